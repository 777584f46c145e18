//! Saved VM states for wraps that restore instead of booting: one state per machine, made
//! once by booting it, waiting for its first `200` and saving everything through a QMP
//! migration while it runs, then cached by everything that shapes it (QEMU's version, every
//! argument but the QMP socket and host port, the boot files' contents).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::qmp::QmpClient;
use super::{WrapError, probe_target};
use crate::image::size::files_identity;
use crate::instrument::probe;
use crate::scenario::{ProbeSpec, WrapSpec};

/// Folder of the saved states inside the image cache.
const STATES_DIR: &str = "vm-states";
/// Longest wait for QMP while saving.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the state to be written.
const SAVE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for QEMU to exit after the save.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A saved VM state on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedState {
    /// The state file.
    pub path: PathBuf,
    /// Its key: the first 16 hex digits of the hash of what shapes it.
    pub id: String,
    /// Whether this preparation made it (rather than finding it in the cache).
    pub made: bool,
}

/// The machine a state is saved from.
pub struct Machine<'a> {
    /// The QEMU binary and its version.
    pub binary: &'a str,
    /// `QEMU 7.2.22 (...)`.
    pub version: &'a str,
    /// QEMU's arguments for one instance with this QMP socket and host port.
    pub arguments: &'a (dyn Fn(&Path, u16) -> Vec<String> + Sync),
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
        for arg in (self.arguments)(Path::new("QMP"), 0) {
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
    if path.is_file() {
        return Ok(SavedState {
            path,
            id,
            made: false,
        });
    }
    progress(&format!(
        "saving a VM state to restore ({id}): booting once"
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| WrapError::Qemu(format!("creating {}: {e}", dir.display())))?;
    let partial = path.with_extension("partial");
    let saved = save(machine, &partial).await;
    let saved = saved.and_then(|()| {
        std::fs::rename(&partial, &path)
            .map_err(|e| WrapError::Qemu(format!("keeping {}: {e}", path.display())))
    });
    if let Err(e) = saved {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    Ok(SavedState {
        path,
        id,
        made: true,
    })
}

/// Boots the machine, waits for its first `200`, saves its state to `file` while it runs
/// and quits it. QEMU is killed on every way out.
async fn save(machine: &Machine<'_>, file: &Path) -> Result<(), WrapError> {
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
        .args((machine.arguments)(&socket, port))
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
    let result = match served {
        Ok(()) => save_and_quit(&socket, file).await.map_err(failed),
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

/// Saves the running VM's state to `file` through QMP, then asks QEMU to quit.
async fn save_and_quit(socket: &Path, file: &Path) -> Result<(), String> {
    let qmp = QmpClient::connect(socket, QMP_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let quoted = file.display().to_string().replace('\'', r"'\''");
    let saved = qmp
        .save_state(&format!("exec:cat > '{quoted}'"), SAVE_TIMEOUT)
        .await
        .map_err(|e| e.to_string());
    qmp.quit().await;
    saved
}

/// QEMU's arguments that restore `state` instead of booting.
pub fn incoming(state: &SavedState) -> [String; 2] {
    let quoted = state.path.display().to_string().replace('\'', r"'\''");
    ["-incoming".to_string(), format!("exec:cat '{quoted}'")]
}
