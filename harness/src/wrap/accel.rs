//! Choosing QEMU's accelerator by measurement. The presence of /dev/kvm proves nothing: under
//! nested virtualization KVM can be hundreds of times slower than software emulation, or
//! QEMU may abort with the wrap's CPU model. So `auto` boots a tiny guest with the wrap's
//! machine type and CPU model (a boot sector that runs a counted loop with a port write per
//! round, so it exits to the VMM as a real boot does, then leaves through `isa-debug-exit`)
//! several times under TCG, then under KVM with TCG's time as its budget, and keeps the
//! faster median. The verdict and its evidence (every sample, or why KVM could not run) are
//! cached for a day per host, host kernel, QEMU version, machine and CPU model.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// How long a cached verdict is trusted.
const VERDICT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Rounds of the probe guest's outer loop, each ending in a port write (a VM exit).
const ROUNDS: u16 = 20_000;
/// Iterations of the inner loop per round: guest work between exits.
const ROUND_ITERATIONS: u16 = 1_000;
/// The port each round writes (the POST diagnostic port, which QEMU's PC ignores).
const ROUND_PORT: u8 = 0x80;
/// The probe guest's exit port (`isa-debug-exit`); writing 0 makes QEMU exit with status 1.
const EXIT_PORT: u8 = 0xf4;
/// Size of the probe guest's disk: its boot sector, then zeros.
const DISK_BYTES: usize = 1 << 20;
/// Boots of the probe guest per accelerator; the median counts.
const SAMPLES: usize = 3;
/// Version of the probe: verdicts of another version are not reused.
const PROBE_VERSION: u32 = 2;
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

/// What the probe guest is booted as: the wrap's machine type (when it can boot a disk) and
/// CPU model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeGuest {
    /// `-machine` the probe booted with.
    pub machine: String,
    /// `-cpu` model.
    pub cpu: String,
    /// Why the machine differs from the wrap's, when it does.
    pub machine_note: Option<String>,
}

impl ProbeGuest {
    /// The probe guest for a wrap's `-machine` and `-cpu`. Machines without a firmware that
    /// boots a disk (microvm) are probed as `pc` with the same CPU model.
    pub fn for_wrap(machine: &str, cpu: &str) -> ProbeGuest {
        let family = machine.split(',').next().unwrap_or(machine);
        let boots_disks = family == "pc" || family == "q35" || family.starts_with("pc-");
        ProbeGuest {
            machine: if boots_disks { machine } else { "pc" }.to_string(),
            cpu: cpu.to_string(),
            machine_note: (!boots_disks)
                .then(|| format!("{family} boots no disk: probed as pc with the same CPU model")),
        }
    }
}

/// The probe's decision and the measurements behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// The accelerator to use.
    pub accel: Accel,
    /// What was booted.
    pub guest: ProbeGuest,
    /// Boot-and-run times of the probe guest under TCG, milliseconds.
    pub tcg_ms: Vec<f64>,
    /// The same under KVM, for the boots that finished within their budget.
    pub kvm_ms: Vec<f64>,
    /// Why KVM was not used, when it was not: unavailable, aborted, or too slow.
    pub kvm_failure: Option<String>,
    /// Why this accelerator, in one line.
    pub reason: String,
    /// QEMU version the verdict was measured with.
    pub qemu_version: String,
    /// Host the verdict was measured on.
    pub host: String,
    /// Host kernel release.
    pub host_kernel: String,
    /// When it was measured, seconds since the Unix epoch.
    pub measured_at: u64,
    /// Whether this verdict came from the cache rather than a fresh measurement.
    #[serde(skip)]
    pub cached: bool,
}

impl Verdict {
    /// The verdict with its evidence in one line, for `doctor` and logs.
    pub fn describe(&self) -> String {
        let when = chrono::DateTime::from_timestamp(self.measured_at as i64, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let source = if self.cached {
            format!("cached, measured {when}")
        } else {
            format!("measured {when}")
        };
        let samples = |ms: &[f64]| {
            ms.iter()
                .map(|m| format!("{m:.0}"))
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut text = format!(
            "{} for -machine {} -cpu {} ({source}): {}; TCG {} ms",
            self.accel.name(),
            self.guest.machine,
            self.guest.cpu,
            self.reason,
            samples(&self.tcg_ms)
        );
        if !self.kvm_ms.is_empty() {
            text.push_str(&format!(", KVM {} ms", samples(&self.kvm_ms)));
        }
        if let Some(note) = &self.guest.machine_note {
            text.push_str(&format!(" ({note})"));
        }
        text
    }
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

/// The probe guest: a 512-byte boot sector that runs `ROUNDS` rounds of
/// `ROUND_ITERATIONS` iterations of `dec cx; jnz`, each round ending in a write to
/// `ROUND_PORT` (an exit to the VMM), and then writes 0 to the exit port.
fn probe_boot_sector() -> [u8; 512] {
    let mut code = vec![0xBB]; // mov bx, ROUNDS
    code.extend_from_slice(&ROUNDS.to_le_bytes());
    code.push(0xB9); // outer: mov cx, ROUND_ITERATIONS
    code.extend_from_slice(&ROUND_ITERATIONS.to_le_bytes());
    code.extend_from_slice(&[0x49, 0x75, 0xFD]); // inner: dec cx; jnz inner
    code.extend_from_slice(&[0xE6, ROUND_PORT]); // out ROUND_PORT, al
    code.extend_from_slice(&[0x4B, 0x75, 0xF5]); // dec bx; jnz outer
    code.extend_from_slice(&[0xB0, 0x00]); // mov al, 0
    code.extend_from_slice(&[0xE6, EXIT_PORT]); // out EXIT_PORT, al
    code.extend_from_slice(&[0xF4, 0xEB, 0xFD]); // hlt; jmp hlt
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

/// Boots the probe guest under `accel`: its time, `None` when it exceeded `limit`, or why
/// QEMU could not run it (its last line on stderr, e.g. an assertion on MSRs).
async fn time_probe_guest(
    binary: &str,
    image: &Path,
    guest: &ProbeGuest,
    accel: Accel,
    limit: Duration,
) -> Result<Option<Duration>, AccelError> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .args(["-machine", &guest.machine, "-cpu", &guest.cpu])
        .args(["-accel", accel.name(), "-m", "16"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-drive")
        .arg(format!("file={},format=raw", image.display()))
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
                "QEMU under {} ended with {status}: {}",
                accel.name(),
                stderr.trim().lines().last().unwrap_or("no message")
            )))
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// KVM's boots of the probe guest, each within `budget`: the times, and why KVM lost when
/// a boot failed or ran out of budget.
async fn kvm_samples(
    binary: &str,
    image: &Path,
    guest: &ProbeGuest,
    budget: Duration,
) -> (Vec<f64>, Option<String>) {
    let mut times = Vec::new();
    for _ in 0..SAMPLES {
        match time_probe_guest(binary, image, guest, Accel::Kvm, budget).await {
            Ok(Some(time)) => times.push(millis(time)),
            Ok(None) => {
                return (
                    times,
                    Some(format!(
                        "KVM slower than TCG: not done after {:.0} ms (nested virtualization?)",
                        millis(budget)
                    )),
                );
            }
            Err(AccelError::Probe(why)) => return (times, Some(format!("KVM failed: {why}"))),
        }
    }
    (times, None)
}

/// Measures both accelerators with `guest` and decides. KVM gets TCG's median time (plus a
/// margin) as the budget of each boot: beyond it, TCG wins anyway.
pub async fn measure(
    binary: &str,
    qemu_version: &str,
    guest: &ProbeGuest,
) -> Result<Verdict, AccelError> {
    let dir = tempfile::Builder::new()
        .prefix("shrinkwrap-accel-")
        .tempdir()
        .map_err(|e| AccelError::Probe(format!("temp folder: {e}")))?;
    let image = dir.path().join("probe.img");
    // A whole MiB: q35's AHCI cannot read a disk of one sector.
    let mut disk = probe_boot_sector().to_vec();
    disk.resize(DISK_BYTES, 0);
    std::fs::write(&image, disk)
        .map_err(|e| AccelError::Probe(format!("writing {}: {e}", image.display())))?;
    let mut tcg_ms = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let time = time_probe_guest(binary, &image, guest, Accel::Tcg, TCG_LIMIT)
            .await?
            .ok_or_else(|| {
                AccelError::Probe(format!(
                    "the probe guest did not finish under TCG within {TCG_LIMIT:?}"
                ))
            })?;
        tcg_ms.push(millis(time));
    }
    let tcg = median(&tcg_ms);
    let (kvm_ms, kvm_failure) = match kvm_available() {
        Err(why) => (Vec::new(), Some(format!("KVM unavailable ({why})"))),
        Ok(()) => {
            let budget = Duration::from_secs_f64(tcg * 1.5 / 1000.0) + Duration::from_millis(50);
            kvm_samples(binary, &image, guest, budget).await
        }
    };
    let (accel, reason) = match &kvm_failure {
        Some(why) => (Accel::Tcg, why.clone()),
        None if median(&kvm_ms) < tcg => (
            Accel::Kvm,
            format!("KVM {:.0} ms < TCG {tcg:.0} ms (medians)", median(&kvm_ms)),
        ),
        None => (
            Accel::Tcg,
            format!("TCG {tcg:.0} ms <= KVM {:.0} ms (medians)", median(&kvm_ms)),
        ),
    };
    let host = crate::instrument::host::HostFacts::read();
    Ok(Verdict {
        accel,
        guest: guest.clone(),
        tcg_ms,
        kvm_ms,
        kvm_failure,
        reason,
        qemu_version: qemu_version.to_string(),
        host: host.name,
        host_kernel: host.kernel,
        measured_at: unix_now(),
        cached: false,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The cache file of a verdict: keyed by everything that would change the answer.
fn verdict_path(cache_dir: &Path, qemu_version: &str, guest: &ProbeGuest) -> PathBuf {
    let host = crate::instrument::host::HostFacts::read();
    let key = [
        host.name.as_str(),
        host.kernel.as_str(),
        qemu_version,
        guest.machine.as_str(),
        guest.cpu.as_str(),
    ]
    .join("|");
    let digest = sha2::Sha256::digest(key.as_bytes());
    cache_dir.join(format!(
        "accel-v{PROBE_VERSION}-{}.json",
        &hex::encode(digest)[..16]
    ))
}

/// The cached verdict for this host, QEMU and probe guest when younger than a day (marked
/// `cached`), else a fresh one, which is then cached. A cache that cannot be written is not
/// an error.
pub async fn cached_verdict(
    binary: &str,
    qemu_version: &str,
    guest: &ProbeGuest,
    cache_dir: &Path,
) -> Result<Verdict, AccelError> {
    let path = verdict_path(cache_dir, qemu_version, guest);
    let fresh = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Verdict>(&bytes).ok())
        .filter(|v| unix_now().saturating_sub(v.measured_at) < VERDICT_MAX_AGE.as_secs());
    if let Some(mut verdict) = fresh {
        verdict.cached = true;
        return Ok(verdict);
    }
    let verdict = measure(binary, qemu_version, guest).await?;
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
    fn boot_sector_is_bootable_exits_each_round_and_at_the_end() {
        let sector = probe_boot_sector();
        assert_eq!(&sector[510..], &[0x55, 0xAA]);
        assert_eq!(&sector[1..3], &ROUNDS.to_le_bytes());
        assert!(sector.windows(2).any(|w| w == [0xE6, ROUND_PORT]));
        assert!(sector.windows(2).any(|w| w == [0xE6, EXIT_PORT]));
    }

    #[test]
    fn microvm_is_probed_as_pc_with_the_same_cpu() {
        let q35 = ProbeGuest::for_wrap("q35", "max");
        assert_eq!((q35.machine.as_str(), q35.machine_note), ("q35", None));
        let micro = ProbeGuest::for_wrap("microvm,acpi=off", "max");
        assert_eq!((micro.machine.as_str(), micro.cpu.as_str()), ("pc", "max"));
        assert!(micro.machine_note.unwrap().contains("microvm"));
    }

    #[test]
    fn verdict_paths_change_with_what_changes_the_answer() {
        let dir = Path::new("/c");
        let guest = ProbeGuest::for_wrap("q35", "max");
        let a = verdict_path(dir, "QEMU 7.2.22 (Debian)", &guest);
        assert!(
            a.to_string_lossy().starts_with("/c/accel-v2-"),
            "{}",
            a.display()
        );
        assert_eq!(a, verdict_path(dir, "QEMU 7.2.22 (Debian)", &guest));
        assert_ne!(a, verdict_path(dir, "QEMU 8.0", &guest));
        assert_ne!(
            a,
            verdict_path(
                dir,
                "QEMU 7.2.22 (Debian)",
                &ProbeGuest::for_wrap("q35", "qemu64")
            )
        );
        assert_ne!(
            a,
            verdict_path(
                dir,
                "QEMU 7.2.22 (Debian)",
                &ProbeGuest::for_wrap("pc", "max")
            )
        );
    }
}
