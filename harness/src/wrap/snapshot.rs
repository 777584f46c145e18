//! Saved VM states for wraps that restore instead of booting: one state per machine, made
//! once by booting it, waiting for its first `200` and saving everything through a QMP
//! migration while it runs, then cached by everything that shapes it (QEMU's version, every
//! argument but the QMP socket and host port, the boot files' contents).
//!
//! Guest RAM is either saved to a file of its own, which each restore maps privately so
//! pages are read on demand while only the device state streams in (`mapped`, as
//! Firecracker's snapshots do), or saved inside the stream and copied in whole (`copied`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::qmp::QmpClient;
use super::{WrapError, probe_target};
use crate::image::size::files_identity;
use crate::instrument::probe;
use crate::scenario::{ProbeSpec, RestoreRam, WrapSpec};

/// Folder of the saved states inside the image cache.
const STATES_DIR: &str = "vm-states";
/// Longest wait for QMP while saving.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the state to be written.
const SAVE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for QEMU to exit after the save.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a VM idles after its first `200` before its state is saved: the probe's other
/// attempts, abandoned at the first answer, are closed and the guest's threads for them
/// end. Saved at once, a state could hold up to nine half-served connections, and every
/// restore of it replayed them: a 64 MiB Hermit then ran out of memory for task stacks.
const SETTLE: Duration = Duration::from_millis(500);
/// Part of every state's key: how states are saved, so states saved another way are made
/// again rather than reused.
const HOW_SAVED: &str = "after the first 200 and 500 ms idle";

/// A saved VM state on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedState {
    /// The state file: the device state, and the guest RAM when it is `copied`.
    pub path: PathBuf,
    /// The guest RAM file a restore maps, when it is `mapped`.
    pub ram: Option<PathBuf>,
    /// Its key: the first 16 hex digits of the hash of what shapes it.
    pub id: String,
    /// Whether this preparation made it (rather than finding it in the cache).
    pub made: bool,
}

/// QEMU's arguments for one instance from its QMP socket, host port and (for a save of
/// mapped RAM) the file its guest RAM is written to.
pub type Arguments<'a> = dyn Fn(&Path, u16, Option<&Path>) -> Vec<String> + Sync + 'a;

/// The machine a state is saved from.
pub struct Machine<'a> {
    /// The QEMU binary and its version.
    pub binary: &'a str,
    /// `QEMU 7.2.22 (...)`.
    pub version: &'a str,
    /// QEMU's arguments for one instance with this QMP socket and host port, its guest RAM
    /// in a shared file when one is given.
    pub arguments: &'a Arguments<'a>,
    /// Guest RAM in a file of its own (`mapped`), or in the state stream (`copied`).
    pub ram: RestoreRam,
    /// The kernel, initrd and disks.
    pub boot_files: &'a [&'a Path],
    /// The wrap (its probe timeouts bound the boot).
    pub spec: &'a WrapSpec,
}

impl Machine<'_> {
    /// The hash of everything that shapes a saved state.
    fn key(&self) -> Result<String, WrapError> {
        let files = files_identity(self.boot_files)
            .map_err(|e| WrapError::Qemu(format!("reading the boot files: {e}")))?;
        let mut hash = Sha256::new();
        hash.update(self.version.as_bytes());
        hash.update([0]);
        hash.update(HOW_SAVED.as_bytes());
        let ram = (self.ram == RestoreRam::Mapped).then_some(Path::new("RAM"));
        for arg in (self.arguments)(Path::new("QMP"), 0, ram) {
            hash.update([0]);
            hash.update(arg.as_bytes());
        }
        hash.update([0]);
        hash.update(files.as_bytes());
        Ok(hex::encode(hash.finalize())[..16].to_string())
    }
}

/// The saved state of `machine`: found in the cache, or made now (`progress` says so).
pub async fn ensure(
    machine: &Machine<'_>,
    cache_dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SavedState, WrapError> {
    let id = machine.key()?;
    let dir = cache_dir.join(STATES_DIR);
    let path = dir.join(format!("{id}.state"));
    let ram = (machine.ram == RestoreRam::Mapped).then(|| dir.join(format!("{id}.ram")));
    let found = path.is_file() && ram.as_ref().is_none_or(|r| r.is_file());
    if !found {
        progress(&format!(
            "saving a VM state to restore ({id}): booting once"
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| WrapError::Qemu(format!("creating {}: {e}", dir.display())))?;
        save_files(machine, &path, ram.as_deref()).await?;
    }
    Ok(SavedState {
        path,
        ram,
        id,
        made: !found,
    })
}

/// Saves to `*.partial` files and renames them into place once complete; removes them on
/// failure, so a state in the cache is always whole.
async fn save_files(
    machine: &Machine<'_>,
    path: &Path,
    ram: Option<&Path>,
) -> Result<(), WrapError> {
    let partial = |file: &Path| file.with_extension(format!("{}.partial", extension(file)));
    let ram_partial = ram.map(partial);
    let saved = save(machine, &partial(path), ram_partial.as_deref()).await;
    let kept = saved.and_then(|()| {
        let mut pairs = vec![(partial(path), path.to_path_buf())];
        pairs.extend(ram_partial.clone().zip(ram.map(Path::to_path_buf)));
        pairs.iter().try_for_each(|(from, to)| {
            std::fs::rename(from, to)
                .map_err(|e| WrapError::Qemu(format!("keeping {}: {e}", to.display())))
        })
    });
    if kept.is_err() {
        let _ = std::fs::remove_file(partial(path));
        if let Some(ram) = &ram_partial {
            let _ = std::fs::remove_file(ram);
        }
    }
    kept
}

fn extension(file: &Path) -> String {
    file.extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Boots the machine (its guest RAM in `ram` when given), waits for its first `200`, saves
/// its state to `file` while it runs and quits it. QEMU is killed on every way out.
async fn save(machine: &Machine<'_>, file: &Path, ram: Option<&Path>) -> Result<(), WrapError> {
    let failed = |why: String| WrapError::Qemu(format!("saving the VM state: {why}"));
    let dir = tempfile::Builder::new()
        .prefix("shrinkwrap-snapshot-")
        .tempdir()
        .map_err(|e| failed(format!("temp folder: {e}")))?;
    let port = probe::free_local_port().map_err(|e| failed(format!("no free port: {e}")))?;
    let socket = dir.path().join("qmp.sock");
    let stderr = std::fs::File::create(dir.path().join("qemu.stderr"))
        .map_err(|e| failed(format!("temp file: {e}")))?;
    let mut child = tokio::process::Command::new(machine.binary)
        .args((machine.arguments)(&socket, port, ram))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", machine.binary)))?;
    let target = probe_target(machine.spec, &ProbeSpec::default(), port);
    let launched = Instant::now();
    let first = tokio::task::spawn_blocking(move || {
        probe::wait_for_first_response(&target, launched, &[], None)
    })
    .await;
    let served = match first {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(failed(format!(
            "the VM never served before its state was saved: {e}"
        ))),
        Err(e) => Err(failed(format!("probe thread failed: {e}"))),
    };
    if served.is_ok() {
        tokio::time::sleep(SETTLE).await;
    }
    let result = match served {
        Ok(()) => save_and_quit(&socket, file, ram.is_some())
            .await
            .map_err(failed),
        Err(e) => Err(e),
    };
    match tokio::time::timeout(EXIT_TIMEOUT, child.wait()).await {
        Ok(Ok(_)) => {}
        _ => {
            let _ = child.kill().await;
        }
    }
    result
}

/// Saves the running VM's state to `file` through QMP (without the guest RAM when it lives
/// in a shared file), then asks QEMU to quit.
async fn save_and_quit(socket: &Path, file: &Path, ram_in_file: bool) -> Result<(), String> {
    let qmp = QmpClient::connect(socket, QMP_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let saved = async {
        if ram_in_file {
            qmp.skip_shared_memory().await?;
        }
        qmp.save_state(&format!("exec:cat > {}", quoted(file)), SAVE_TIMEOUT)
            .await
    }
    .await
    .map_err(|e| e.to_string());
    qmp.quit().await;
    saved
}

/// A path quoted for the shell QEMU's `exec:` runs.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// QEMU's `-incoming` value that restores `state`: its stream at once when the RAM is in it,
/// else `defer` (the restore is started through QMP, see [`deferred_uri`]).
pub fn incoming(state: &SavedState) -> [String; 2] {
    let value = match state.ram {
        Some(_) => "defer".to_string(),
        None => format!("exec:cat {}", quoted(&state.path)),
    };
    ["-incoming".to_string(), value]
}

/// The stream a restore started with `-incoming defer` reads, after QMP has told QEMU to
/// skip the mapped RAM.
pub fn deferred_uri(state: &SavedState) -> Option<String> {
    state
        .ram
        .as_ref()
        .map(|_| format!("exec:cat {}", quoted(&state.path)))
}
