//! The OCI runtime a container wrap runs under (runc, gVisor's runsc, crun, or any the
//! engine knows): found among the runtimes dockerd registered, named with its version and
//! platform for the rows, and tried once before any launch when it is not the engine's
//! default, so a runtime that cannot run here fails with its own words, not mid-run.

use std::time::Duration;

use bollard::Docker;
use bollard::models::Runtime;

use super::WrapError;

/// The runtime a container wrap uses unless it names another.
pub const DEFAULT_RUNTIME: &str = "runc";

/// A runtime the engine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    /// Its name in the engine (`runc`, `runsc`).
    pub name: String,
    /// Its name and version as rows record them, with the platform it was given, e.g.
    /// `runsc 0.0~20221219.0 ptrace`.
    pub description: String,
    /// Whether the engine runs containers under it when none is named.
    pub is_default: bool,
}

/// The runtimes dockerd offers, by name, and its default.
pub async fn offered(docker: &Docker) -> Result<(Vec<(String, Runtime)>, String), WrapError> {
    let info = docker
        .info()
        .await
        .map_err(|e| WrapError::Docker(format!("cannot ask dockerd for its runtimes: {e}")))?;
    let mut runtimes: Vec<(String, Runtime)> =
        info.runtimes.unwrap_or_default().into_iter().collect();
    runtimes.sort_by(|a, b| a.0.cmp(&b.0));
    let default = info
        .default_runtime
        .unwrap_or_else(|| DEFAULT_RUNTIME.to_string());
    Ok((runtimes, default))
}

/// Finds `name` among the engine's runtimes and reads its version.
pub async fn find(docker: &Docker, name: &str) -> Result<OciRuntime, WrapError> {
    let (runtimes, default) = offered(docker).await?;
    let Some((_, runtime)) = runtimes.iter().find(|(n, _)| n == name) else {
        let names: Vec<&str> = runtimes.iter().map(|(n, _)| n.as_str()).collect();
        return Err(WrapError::Docker(format!(
            "OCI runtime '{name}' is not registered with dockerd (it offers {}): run \
             scripts/setup, which registers runsc and crun, or add it to /etc/docker/daemon.json",
            names.join(", ")
        )));
    };
    let path = runtime.path.clone().unwrap_or_else(|| name.to_string());
    let args = runtime.runtime_args.clone().unwrap_or_default();
    Ok(OciRuntime {
        name: name.to_string(),
        description: describe(name, &version_line(&path).await, &args),
        is_default: name == default,
    })
}

/// The first line of `PATH --version`, or why there is none.
async fn version_line(path: &str) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(path)
            .arg("--version")
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match output {
        Ok(Ok(out)) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        Ok(Ok(out)) => format!("version unknown ({path} --version: {})", out.status),
        Ok(Err(e)) => format!("version unknown ({path}: {e})"),
        Err(_) => format!("version unknown ({path} --version hung)"),
    }
}

/// `runsc 0.0~20221219.0 ptrace` from the name, `runsc version 0.0~20221219.0` and the
/// runtime's arguments (the platform, for gVisor).
fn describe(name: &str, version_line: &str, args: &[String]) -> String {
    let version = version_line
        .split_once(" version ")
        .map_or(version_line, |(_, version)| version)
        .trim();
    let platform = args
        .iter()
        .find_map(|arg| arg.strip_prefix("--platform="))
        .map(|platform| format!(" {platform}"))
        .unwrap_or_default();
    format!("{name} {version}{platform}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_runtime_its_version_and_platform() {
        let args = [
            "--network=host".to_string(),
            "--platform=ptrace".to_string(),
        ];
        assert_eq!(
            describe("runsc", "runsc version 0.0~20221219.0", &args),
            "runsc 0.0~20221219.0 ptrace"
        );
        assert_eq!(
            describe("runc", "runc version 1.1.5+ds1", &[]),
            "runc 1.1.5+ds1"
        );
        assert_eq!(
            describe("odd", "version unknown (odd: not found)", &[]),
            "odd version unknown (odd: not found)"
        );
    }
}
