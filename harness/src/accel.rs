//! Choosing QEMU's accelerator by measurement. The presence of /dev/kvm proves nothing: under
//! nested virtualization KVM can be hundreds of times slower than software emulation. So
//! `auto` boots a tiny guest (a boot sector that counts down a loop and exits through
//! `isa-debug-exit`) under TCG, then under KVM with TCG's time as its budget, and keeps the
//! faster. The verdict is cached per host and QEMU version for a day.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// How long a cached verdict is trusted.
const VERDICT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Iterations of the probe guest's loop: a few milliseconds of guest work on a healthy
/// accelerator, seconds on a pathological one.
const LOOP_ITERATIONS: u32 = 20_000_000;
/// The probe guest's exit port (`isa-debug-exit`); writing 0 makes QEMU exit with status 1.
const EXIT_PORT: u8 = 0xf4;
/// Version of the probe: verdicts of another version are not reused.
const PROBE_VERSION: u32 = 1;
/// Longest the TCG boot of the probe guest may take.
const TCG_LIMIT: Duration = Duration::from_secs(30);

/// A QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualization through /dev/kvm.
    Kvm,
    /// Software emulation (TCG).
    Tcg,
}

impl Accel {
    /// The name QEMU's `-accel` takes and result rows record.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The probe's decision and the measurements behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// The accelerator to use.
    pub accel: Accel,
    /// Boot-and-loop time of the probe guest under TCG, milliseconds.
    pub tcg_ms: f64,
    /// The same under KVM, when it finished within its budget.
    pub kvm_ms: Option<f64>,
    /// Why this accelerator, in one line.
    pub reason: String,
    /// QEMU version the verdict was measured with.
    pub qemu_version: String,
    /// Host the verdict was measured on.
    pub host: String,
    /// When it was measured, seconds since the Unix epoch.
    pub measured_at: u64,
}

/// Why no verdict could be reached.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// Writing the probe guest or running QEMU failed.
    #[error("accelerator probe: {0}")]
    Probe(String),
}

/// Whether /dev/kvm can be opened for reading and writing (not whether it is fast).
pub fn kvm_available() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// The probe guest: a 512-byte boot sector that runs `LOOP_ITERATIONS` of `dec ecx; jnz`
/// and then writes 0 to the exit port.
fn probe_boot_sector() -> [u8; 512] {
    let mut code = vec![0x66, 0xB9]; // mov ecx, imm32 (operand-size prefix in real mode)
    code.extend_from_slice(&LOOP_ITERATIONS.to_le_bytes());
    code.extend_from_slice(&[0x66, 0x49]); // dec ecx
    code.extend_from_slice(&[0x75, 0xFC]); // jnz back to dec
    code.extend_from_slice(&[0xB0, 0x00]); // mov al, 0
    code.extend_from_slice(&[0xE6, EXIT_PORT]); // out EXIT_PORT, al
    code.extend_from_slice(&[0xF4, 0xEB, 0xFD]); // hlt; jmp hlt
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

/// Boots the probe guest under `accel`; its time, or `None` when it exceeded `limit`.
async fn time_probe_guest(
    binary: &str,
    image: &Path,
    accel: Accel,
    limit: Duration,
) -> Result<Option<Duration>, AccelError> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        // QEMU's default CPU model: the one every accelerator accepts.
        .args(["-machine", "pc", "-accel", accel.name(), "-m", "16"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=ide", image.display()))
        .arg("-device")
        .arg(format!("isa-debug-exit,iobase={EXIT_PORT:#x},iosize=0x04"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AccelError::Probe(format!("cannot start {binary}: {e}")))?;
    match tokio::time::timeout(limit, child.wait()).await {
        Err(_) => {
            let _ = child.kill().await;
            Ok(None)
        }
        Ok(Err(e)) => Err(AccelError::Probe(format!("waiting for {binary}: {e}"))),
        // isa-debug-exit turns the guest's 0 into exit status 1.
        Ok(Ok(status)) if status.code() == Some(1) => Ok(Some(started.elapsed())),
        Ok(Ok(status)) => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            Err(AccelError::Probe(format!(
                "the probe guest under {} ended with {status}: {}",
                accel.name(),
                stderr.trim().lines().last().unwrap_or("no message")
            )))
        }
    }
}

/// Measures both accelerators and decides. KVM gets TCG's time (plus a margin) as budget:
/// beyond it, TCG wins anyway.
pub async fn measure(binary: &str, qemu_version: &str, host: &str) -> Result<Verdict, AccelError> {
    let dir = tempfile::Builder::new()
        .prefix("shrinkwrap-accel-")
        .tempdir()
        .map_err(|e| AccelError::Probe(format!("temp folder: {e}")))?;
    let image = dir.path().join("probe.img");
    std::fs::write(&image, probe_boot_sector())
        .map_err(|e| AccelError::Probe(format!("writing {}: {e}", image.display())))?;
    let tcg = time_probe_guest(binary, &image, Accel::Tcg, TCG_LIMIT)
        .await?
        .ok_or_else(|| {
            AccelError::Probe(format!(
                "the probe guest did not finish under TCG within {TCG_LIMIT:?}"
            ))
        })?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (accel, kvm, reason) = match kvm_available() {
        Err(why) => (Accel::Tcg, None, format!("KVM unavailable ({why})")),
        Ok(()) => {
            let budget = tcg + tcg / 2 + Duration::from_millis(50);
            match time_probe_guest(binary, &image, Accel::Kvm, budget).await {
                Ok(Some(kvm)) if kvm < tcg => (
                    Accel::Kvm,
                    Some(kvm),
                    format!("KVM {:.0} ms < TCG {:.0} ms", ms(kvm), ms(tcg)),
                ),
                Ok(Some(kvm)) => (
                    Accel::Tcg,
                    Some(kvm),
                    format!("TCG {:.0} ms <= KVM {:.0} ms", ms(tcg), ms(kvm)),
                ),
                Ok(None) => (
                    Accel::Tcg,
                    None,
                    format!(
                        "KVM slower than TCG: not done after {:.0} ms, TCG took {:.0} ms (nested virtualization?)",
                        ms(budget),
                        ms(tcg)
                    ),
                ),
                Err(e) => (Accel::Tcg, None, format!("KVM failed: {e}")),
            }
        }
    };
    Ok(Verdict {
        accel,
        tcg_ms: ms(tcg),
        kvm_ms: kvm.map(ms),
        reason,
        qemu_version: qemu_version.to_string(),
        host: host.to_string(),
        measured_at: unix_now(),
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn verdict_path(cache_dir: &Path, host: &str, qemu_version: &str) -> PathBuf {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    cache_dir.join(format!(
        "accel-v{PROBE_VERSION}-{}-{}.json",
        safe(host),
        safe(qemu_version)
    ))
}

/// The cached verdict for this host and QEMU when younger than a day, else a fresh one
/// (which is then cached). A cache that cannot be written is not an error.
pub async fn cached_verdict(
    binary: &str,
    qemu_version: &str,
    host: &str,
    cache_dir: &Path,
) -> Result<Verdict, AccelError> {
    let path = verdict_path(cache_dir, host, qemu_version);
    let fresh = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Verdict>(&bytes).ok())
        .filter(|v| unix_now().saturating_sub(v.measured_at) < VERDICT_MAX_AGE.as_secs());
    if let Some(verdict) = fresh {
        return Ok(verdict);
    }
    let verdict = measure(binary, qemu_version, host).await?;
    if std::fs::create_dir_all(cache_dir).is_ok()
        && let Ok(json) = serde_json::to_vec_pretty(&verdict)
    {
        let _ = std::fs::write(&path, json);
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sector_is_bootable_and_exits_through_the_port() {
        let sector = probe_boot_sector();
        assert_eq!(&sector[510..], &[0x55, 0xAA]);
        assert_eq!(&sector[2..6], &LOOP_ITERATIONS.to_le_bytes());
        assert!(sector.windows(2).any(|w| w == [0xE6, EXIT_PORT]));
    }

    #[test]
    fn verdict_paths_are_per_host_and_version() {
        let a = verdict_path(Path::new("/c"), "host/1", "QEMU 7.2.22 (Debian)");
        assert_eq!(a, Path::new("/c/accel-v1-host_1-QEMU_7.2.22__Debian_.json"));
        assert_ne!(a, verdict_path(Path::new("/c"), "host/1", "QEMU 8.0"));
    }
}
