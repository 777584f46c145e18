//! `shrinkwrap doctor`: what the harness finds on this machine, one line per fact, each
//! with the fix when something is missing.

use std::path::Path;

use crate::image::recipe::ImageCache;
use crate::instrument::host::HostFacts;
use crate::wrap::accel;
use crate::wrap::{container, oci_runtime, qemu};

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was checked.
    pub topic: &'static str,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
    /// Whether this blocks some wraps.
    pub problem: bool,
}

/// Checks dockerd, QEMU, KVM and the accelerator verdict, and the free disk of the cache.
pub async fn examine(cache: &ImageCache, qemu_binary: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |topic, result: Result<String, String>| {
        let problem = result.is_err();
        findings.push(Finding {
            topic,
            detail: result.unwrap_or_else(|e| e),
            problem,
        });
    };
    let host = HostFacts::read();
    add(
        "host",
        Ok(format!(
            "{} (kernel {}, {})",
            host.name, host.kernel, host.cpu
        )),
    );
    let engine = container::connect().await;
    add(
        "dockerd",
        engine
            .as_ref()
            .map(|(_, version)| version.clone())
            .map_err(|e| e.to_string()),
    );
    if let Ok((docker, _)) = &engine {
        add("oci runtimes", runtimes(docker).await);
    }
    let qemu_version = qemu::qemu_version(qemu_binary)
        .await
        .map_err(|e| e.to_string());
    add("qemu", qemu_version.clone());
    add(
        "kvm",
        accel::kvm_available()
            .map(|()| "/dev/kvm can be opened (speed is the probe's to judge)".to_string())
            .map_err(|e| format!("not usable: {e}; VMs will use TCG")),
    );
    if let Ok(version) = &qemu_version {
        for guest in probe_guests() {
            let verdict = accel::cached_verdict(qemu_binary, version, &guest, &cache.dir).await;
            add(
                "accelerator",
                verdict.map(|v| v.describe()).map_err(|e| e.to_string()),
            );
        }
    }
    add("free disk", free_space(&cache.dir));
    findings
}

/// The OCI runtimes the engine offers, each with its version, the default marked; a problem
/// when gVisor's runsc, which the default scenario uses, is not among them.
async fn runtimes(docker: &bollard::Docker) -> Result<String, String> {
    let (offered, _) = oci_runtime::offered(docker)
        .await
        .map_err(|e| e.to_string())?;
    let mut described = Vec::new();
    for (name, _) in &offered {
        let runtime = oci_runtime::find(docker, name)
            .await
            .map_err(|e| e.to_string())?;
        let default = if runtime.is_default { " (default)" } else { "" };
        described.push(format!("{}{default}", runtime.description));
    }
    let text = described.join(", ");
    if offered.iter().any(|(name, _)| name == "runsc") {
        Ok(format!(
            "{text}; a wrap's non-default runtime is tried once before it is measured"
        ))
    } else {
        Err(format!(
            "{text}; runsc (gVisor) is not registered: run scripts/setup"
        ))
    }
}

/// The probe guests of the default scenario's VM wraps (their machine and CPU model), each
/// once; `q35` with `max` when the scenario cannot be read.
fn probe_guests() -> Vec<accel::ProbeGuest> {
    let path = crate::repository_root().join(crate::scenario::DEFAULT_SCENARIO);
    let mut guests: Vec<accel::ProbeGuest> = Vec::new();
    if let Ok(scenario) = crate::scenario::Scenario::load(&path) {
        for spec in &scenario.wraps {
            if let crate::scenario::Launch::Qemu(q) = &spec.launch {
                let guest = accel::ProbeGuest::for_wrap(&q.machine, &q.cpu);
                if !guests.contains(&guest) {
                    guests.push(guest);
                }
            }
        }
    }
    if guests.is_empty() {
        guests.push(accel::ProbeGuest::for_wrap("q35", "max"));
    }
    guests
}

/// Free space on the file system holding `path` (or its nearest existing parent).
fn free_space(path: &Path) -> Result<String, String> {
    let disks =
        sysinfo::Disks::new_with_refreshed_list().map_err(|e| format!("cannot list disks: {e}"))?;
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let existing = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    let disk = disks
        .iter()
        .filter(|d| existing.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .ok_or_else(|| format!("no file system found for {}", path.display()))?;
    let gb = disk.available_space() as f64 / 1e9;
    let text = format!("{gb:.1} GB free for the image cache {}", path.display());
    if gb < 5.0 {
        Err(format!(
            "{text}: image builds need about 5 GB; free some space"
        ))
    } else {
        Ok(text)
    }
}
