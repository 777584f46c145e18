//! A small QMP client on the qapi crate: connect to QEMU's socket as soon as it exists,
//! complete the handshake, ask the run state, save the VM's state, and quit.

use std::path::Path;
use std::time::{Duration, Instant};

use qapi::futures::{QapiService, QmpStreamTokio};
use tokio::io::WriteHalf;
use tokio::net::UnixStream;

/// Pause between attempts to connect while QEMU has not created the socket yet.
const RETRY: Duration = Duration::from_millis(1);
/// Pause between questions about a state save in progress.
const SAVE_POLL: Duration = Duration::from_millis(10);

/// A QMP session that went wrong.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket never accepted a connection within the timeout.
    #[error("QMP socket {socket} never answered within {timeout:?}: {reason}")]
    Unreachable {
        /// The socket.
        socket: String,
        /// The timeout.
        timeout: Duration,
        /// The last connection error.
        reason: String,
    },
    /// The greeting or a command failed.
    #[error("QMP {command}: {reason}")]
    Command {
        /// The command (or `handshake`).
        command: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// A connected QMP session.
pub struct QmpClient {
    service: QapiService<QmpStreamTokio<WriteHalf<UnixStream>>>,
}

impl QmpClient {
    /// Connects to `socket`, retrying until it exists or `timeout` passes, and negotiates.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<QmpClient, QmpError> {
        let deadline = Instant::now() + timeout;
        loop {
            match QmpStreamTokio::open_uds(socket).await {
                Ok(negotiation) => {
                    let stream = negotiation
                        .negotiate()
                        .await
                        .map_err(|e| QmpError::Command {
                            command: "handshake",
                            reason: e.to_string(),
                        })?;
                    let (service, _events) = stream.spawn_tokio();
                    return Ok(QmpClient { service });
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(QmpError::Unreachable {
                        socket: socket.display().to_string(),
                        timeout,
                        reason: e.to_string(),
                    });
                }
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }

    /// Whether the guest is running, and QEMU's name for its state.
    pub async fn status(&self) -> Result<(bool, String), QmpError> {
        let status = self
            .service
            .execute(qapi::qmp::query_status {})
            .await
            .map_err(|e| QmpError::Command {
                command: "query-status",
                reason: e.to_string(),
            })?;
        // The generated enum's variants carry QEMU's own names (`running`, `paused`, ...).
        Ok((status.running, format!("{:?}", status.status)))
    }

    /// Saves the whole VM state (devices and RAM) through a migration to `uri` (e.g.
    /// `exec:cat > FILE`) while the guest runs, and waits until it completed. A guest that
    /// was running when saved runs again when restored.
    pub async fn save_state(&self, uri: &str, timeout: Duration) -> Result<(), QmpError> {
        let failed = |command, reason: String| QmpError::Command { command, reason };
        self.service
            .execute(qapi::qmp::migrate {
                uri: Some(uri.to_string()),
                channels: None,
                detach: None,
                resume: None,
            })
            .await
            .map_err(|e| failed("migrate", e.to_string()))?;
        let deadline = Instant::now() + timeout;
        loop {
            let info = self
                .service
                .execute(qapi::qmp::query_migrate {})
                .await
                .map_err(|e| failed("query-migrate", e.to_string()))?;
            match info.status {
                Some(qapi::qmp::MigrationStatus::completed) => return Ok(()),
                Some(
                    status @ (qapi::qmp::MigrationStatus::failed
                    | qapi::qmp::MigrationStatus::cancelled),
                ) => {
                    let why = info.error_desc.unwrap_or_default();
                    return Err(failed("migrate", format!("{status:?}: {why}")));
                }
                _ if Instant::now() >= deadline => {
                    return Err(failed("migrate", format!("not done within {timeout:?}")));
                }
                _ => tokio::time::sleep(SAVE_POLL).await,
            }
        }
    }

    /// Leaves guest RAM that lives in a shared file out of migrations (`x-ignore-shared`):
    /// a save then holds the device state only, and a restore maps the RAM file instead.
    pub async fn skip_shared_memory(&self) -> Result<(), QmpError> {
        self.service
            .execute(qapi::qmp::migrate_set_capabilities {
                capabilities: vec![qapi::qmp::MigrationCapabilityStatus {
                    capability: qapi::qmp::MigrationCapability::x_ignore_shared,
                    state: true,
                }],
            })
            .await
            .map(|_| ())
            .map_err(|e| QmpError::Command {
                command: "migrate-set-capabilities",
                reason: e.to_string(),
            })
    }

    /// Starts restoring a VM started with `-incoming defer` from `uri`.
    pub async fn restore_from(&self, uri: &str) -> Result<(), QmpError> {
        self.service
            .execute(qapi::qmp::migrate_incoming {
                uri: Some(uri.to_string()),
                channels: None,
                exit_on_error: None,
            })
            .await
            .map(|_| ())
            .map_err(|e| QmpError::Command {
                command: "migrate-incoming",
                reason: e.to_string(),
            })
    }

    /// Asks QEMU to quit. QEMU may close the socket before it answers; whether it exited is
    /// for the caller to see on the process.
    pub async fn quit(&self) {
        let _ = self.service.execute(qapi::qmp::quit {}).await;
    }
}
