//! Facts about the measuring host, recorded in every result row.

use sysinfo::{CpuRefreshKind, RefreshKind, System};

/// The host a run measured on.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// Host name.
    pub name: String,
    /// Kernel release.
    pub kernel: String,
    /// CPU model and logical CPU count, e.g. `Intel Xeon ... x2`.
    pub cpu: String,
}

impl HostFacts {
    /// Reads the facts; a fact the OS does not give is `unknown`.
    pub fn read() -> HostFacts {
        let unknown = || "unknown".to_string();
        let cpu =
            System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()))
                .ok()
                .and_then(|system| {
                    let cpus = system.cpus();
                    cpus.first()
                        .map(|cpu| format!("{} x{}", cpu.brand().trim(), cpus.len()))
                })
                .unwrap_or_else(unknown);
        HostFacts {
            name: System::host_name().unwrap_or_else(|_| unknown()),
            kernel: System::kernel_version().unwrap_or_else(|_| unknown()),
            cpu,
        }
    }
}
