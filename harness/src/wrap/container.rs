//! The container wrap: a Docker container driven through bollard. Images are built offline
//! from an in-memory `FROM scratch` context holding a recipe's `rootfs/`; instances run with
//! host networking on a port chosen per run, and carry labels naming the harness and the
//! session so leftovers can always be found.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use sysinfo::{ProcessRefreshKind, UpdateKind};

use super::launch::{Instance, Signals};
use super::{
    LaunchContext, Measurement, PrepareContext, Prepared, Wrap, WrapError, kill_processes_where,
    oci_runtime, run_blocking,
};
use crate::image::ImageFacts;
use crate::image::contents::{self, Contents};
use crate::image::size::{self as image_size, CachedFacts, FactsCache};
use crate::instrument::cpu;
use crate::instrument::memory::{self, MemoryCgroup, process_memory};
use crate::instrument::probe;
use crate::scenario::{ContainerSpec, Launch, WrapSpec};

/// Label on every container and image the harness makes.
pub const HARNESS_LABEL: &str = "org.shrinkwrap.harness";
/// Label naming the session (one `shrinkwrap run`) a container belongs to.
pub const SESSION_LABEL: &str = "org.shrinkwrap.session";
/// The session label of the unmeasured container that tries a runtime while preparing.
const TRIAL_SESSION: &str = "runtime-trial";

/// Exit code of a process killed by SIGKILL (128 + 9): a stop that needed the kill.
const SIGKILL_EXIT_CODE: i64 = 137;

/// Lines of a failed container's log quoted in the error.
const LOG_TAIL_LINES: &str = "3";

/// A container wrap with its image built and the engine reachable.
pub struct ContainerWrap {
    /// Image size from the engine; compressed size and contents from the saved image.
    prepared: Prepared,
    container: ContainerSpec,
    docker: Docker,
    image: String,
}

/// What the engine's saved tarball of an image (every layer) tells.
type SavedImage = CachedFacts<Contents>;

fn docker_error(what: &str, error: bollard::errors::Error) -> WrapError {
    WrapError::Docker(format!("{what}: {}", engine_message(&error)))
}

/// The engine's own message where it sent one, else bollard's.
fn engine_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Connects to the local engine (`$DOCKER_HOST` when it names a unix socket, else
/// /var/run/docker.sock) and agrees on an API version (dockerd 20.10 speaks 1.41).
pub async fn connect() -> Result<(Docker, String), WrapError> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| h.starts_with("unix://"))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    let down = |e: bollard::errors::Error| {
        WrapError::Docker(format!(
            "dockerd is not answering on {socket} ({e}): run scripts/setup, which starts it"
        ))
    };
    let docker = Docker::connect_with_unix_defaults().map_err(down)?;
    let docker = docker.negotiate_version().await.map_err(down)?;
    let version = docker.version().await.map_err(down)?;
    let runtime = format!(
        "dockerd {} (API {})",
        version.version.unwrap_or_else(|| "unknown".into()),
        version.api_version.unwrap_or_else(|| "unknown".into())
    );
    tracing::debug!(%runtime, %socket, "connected to the Docker engine");
    Ok((docker, runtime))
}

impl ContainerWrap {
    /// Connects to dockerd and builds (or finds) the wrap's image.
    pub async fn prepare(
        spec: WrapSpec,
        context: &PrepareContext<'_>,
    ) -> Result<ContainerWrap, WrapError> {
        let Launch::Container(container) = spec.launch.clone() else {
            return Err(WrapError::Docker(format!(
                "wrap '{}' is not a container",
                spec.name
            )));
        };
        let (docker, engine_version) = connect().await?;
        let runtime = oci_runtime::find(&docker, &container.runtime).await?;
        let image = match (&spec.image, &container.image) {
            (Some(recipe), _) => {
                let built = run_blocking(|| {
                    context
                        .cache
                        .ensure(recipe, context.rebuild, context.progress)
                })?;
                let tag = format!("shrinkwrap/{}:{}", recipe.recipe, built.key);
                if context.rebuild || docker.inspect_image(&tag).await.is_err() {
                    (context.progress)(&format!("building container image {tag}"));
                    build_image(&docker, &built.dir.join("rootfs"), &tag).await?;
                }
                tag
            }
            (None, Some(image)) => image.clone(),
            (None, None) => {
                return Err(WrapError::Docker(
                    "no image: give a [wrap.image] recipe or container.image".to_string(),
                ));
            }
        };
        let inspect = docker.inspect_image(&image).await.map_err(|e| {
            WrapError::Docker(format!(
                "image {image} is not in the local engine ({}): build or load it first; shrinkwrap never pulls",
                engine_message(&e)
            ))
        })?;
        let image_bytes = inspect
            .size
            .and_then(|s| u64::try_from(s).ok())
            .ok_or_else(|| {
                WrapError::Docker(format!("the engine reports no size for image {image}"))
            })?;
        let identity = inspect.id.clone().unwrap_or_else(|| image.clone());
        let saved = saved_image(&docker, &image, &identity, &context.cache.dir).await;
        let image_facts = ImageFacts {
            bytes: image_bytes,
            compressed_bytes: saved
                .as_ref()
                .map(|saved| saved.compressed_bytes)
                .map_err(String::clone),
            contents: saved.map(|saved| saved.extra),
        };
        let wrap = ContainerWrap {
            prepared: Prepared {
                spec,
                runtime_version: format!("{engine_version}, {}", runtime.description),
                accel: "native".to_string(),
                accel_chosen_by: None,
                restored_from: None,
                image: image_facts,
            },
            container,
            docker,
            image,
        };
        if !runtime.is_default {
            (context.progress)(&format!("trying the OCI runtime {}", runtime.name));
            wrap.try_runtime().await?;
        }
        Ok(wrap)
    }

    /// Starts one unmeasured instance and removes it: a runtime other than the engine's
    /// default that cannot run here (crun on hybrid cgroups) fails now, in its own words,
    /// before any launch. Bounded by the wrap's ready timeout.
    async fn try_runtime(&self) -> Result<(), WrapError> {
        let runtime = &self.container.runtime;
        let port = probe::free_local_port()
            .map_err(|e| WrapError::Docker(format!("no free port on 127.0.0.1: {e}")))?;
        let created = self
            .docker
            .create_container(None, self.create_body(TRIAL_SESSION, port))
            .await
            .map_err(|e| docker_error("create", e))?;
        let ready = self.prepared.spec.timeouts.ready;
        let started =
            tokio::time::timeout(ready, self.docker.start_container(&created.id, None)).await;
        let removed = remove_bounded(&self.docker, &created.id, started.is_err()).await;
        let cannot = |why: String| {
            WrapError::Docker(format!(
                "OCI runtime '{runtime}' cannot run containers here: {why}; choose another \
                 runtime for this wrap"
            ))
        };
        match started {
            Ok(Ok(())) => removed.map_err(WrapError::Docker),
            Ok(Err(e)) => Err(cannot(engine_message(&e))),
            Err(_) => Err(cannot(format!(
                "a container did not start within {ready:?} (the ready timeout)"
            ))),
        }
    }

    fn labels(&self, session: &str) -> HashMap<String, String> {
        let mut labels = harness_label();
        labels.insert(SESSION_LABEL.to_string(), session.to_string());
        labels.insert(
            "org.shrinkwrap.wrap".to_string(),
            self.prepared.spec.name.clone(),
        );
        labels
    }

    /// The engine's description of one instance on host port `port`.
    fn create_body(&self, session: &str, port: u16) -> ContainerCreateBody {
        let command: Vec<String> = self
            .container
            .command
            .iter()
            .map(|arg| arg.replace("{port}", &port.to_string()))
            .collect();
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: Some(command),
            cmd: Some(Vec::new()),
            env: Some(
                self.container
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            labels: Some(self.labels(session)),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                init: Some(self.container.init),
                runtime: Some(self.container.runtime.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[async_trait]
impl Wrap for ContainerWrap {
    fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    fn fixed_port(&self) -> Option<u16> {
        self.container.port
    }

    async fn instance(
        &self,
        context: &LaunchContext,
        port: u16,
    ) -> Result<Box<dyn Instance>, String> {
        Ok(Box::new(ContainerInstance {
            body: Some(self.create_body(&context.session, port)),
            docker: self.docker.clone(),
            id: None,
            ready: self.prepared.spec.timeouts.ready,
            start_hung: false,
            grace_s: 0,
            init_pid: None,
        }))
    }

    async fn remove_leftovers(&self, session: &str) -> usize {
        remove_labelled(&self.docker, &format!("{SESSION_LABEL}={session}")).await
    }
}

/// One container: the engine's description of it, then its id once created, and the
/// grace period of its stop.
struct ContainerInstance {
    docker: Docker,
    body: Option<ContainerCreateBody>,
    id: Option<String>,
    /// The wrap's ready timeout, which bounds the start call too.
    ready: Duration,
    /// The start call did not return within `ready`: the OCI runtime hangs.
    start_hung: bool,
    grace_s: i32,
    /// The host PID of the container's first process, once asked.
    init_pid: Option<u32>,
}

impl ContainerInstance {
    /// The container's id (`create` has run).
    fn id(&self) -> Result<&str, String> {
        self.id
            .as_deref()
            .ok_or_else(|| "the container was never created".to_string())
    }

    /// The last lines the container printed, for error messages.
    async fn log_tail(&self, id: &str) -> String {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(LOG_TAIL_LINES)
            .build();
        let chunks: Vec<_> = self.docker.logs(id, Some(options)).collect().await;
        let text: String = chunks
            .into_iter()
            .filter_map(Result::ok)
            .map(|chunk| chunk.to_string())
            .collect();
        let text = text.trim().replace('\n', " | ");
        if text.is_empty() {
            "it printed nothing".to_string()
        } else {
            format!("its last output: {text}")
        }
    }

    /// The host PID of the container's first process, as the engine reports it (asked
    /// once: it does not change while the container runs).
    async fn init_pid(&mut self, id: &str) -> Result<u32, String> {
        if let Some(pid) = self.init_pid {
            return Ok(pid);
        }
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| format!("inspect failed: {}", engine_message(&e)))?;
        let pid = info
            .state
            .and_then(|s| s.pid)
            .filter(|&p| p > 0)
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| "the engine reports no PID for the container".to_string())?;
        self.init_pid = Some(pid);
        Ok(pid)
    }

    /// Memory of the running container right after its first response.
    async fn measure_memory(&mut self, id: &str, measurement: &mut Measurement) {
        let pid = match self.init_pid(id).await {
            Ok(pid) => pid,
            Err(e) => {
                measurement.note(format!("memory: {e}"));
                return;
            }
        };
        let cgroup = match MemoryCgroup::of_process(pid) {
            Ok(cgroup) => cgroup,
            Err(e) => {
                measurement.note(format!("memory: {e}"));
                return;
            }
        };
        let pids = match cgroup.pids() {
            Ok(pids) => pids,
            Err(e) => {
                measurement.note(format!("memory: {e}"));
                return;
            }
        };
        let own = match process_memory(&pids) {
            Ok(memory) => {
                measurement.rss_bytes = Some(memory.rss_bytes);
                measurement.pss_bytes = Some(memory.pss_bytes);
                Some(memory)
            }
            Err(e) => {
                measurement.note(format!("rss/pss: {e}"));
                None
            }
        };
        // The host's cost of the instance: its processes and the shim that exists for it
        // (the processes' PSS is the one just read; only the shim is read now).
        match container_shim(pid, id).and_then(|shim| process_memory(&[shim])) {
            Ok(shim) => {
                measurement.host_memory_bytes = own.map(|o| o.pss_bytes + shim.pss_bytes);
                measurement.host_memory_split = own.map(|o| o.split + shim.split);
            }
            Err(e) => measurement.note(format!("host memory: {e}")),
        }
        match cgroup.working_set_bytes() {
            Ok(bytes) => measurement.cgroup_bytes = Some(bytes),
            Err(e) => measurement.note(format!("cgroup: {e}")),
        }
    }

    /// The exit code of a stopped container, when the engine reports one.
    async fn exit_code(&self, id: &str) -> Option<i64> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .ok()?;
        info.state.and_then(|s| s.exit_code)
    }
}

/// How long a force-removal may take before the container counts as left behind.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Force-removes a container within [`REMOVE_TIMEOUT`]. After a start that hung in its OCI
/// runtime, the processes that carry its id (its shim, the runtime's own) are killed first:
/// the engine cannot stop what the runtime never finished creating.
async fn remove_bounded(docker: &Docker, id: &str, start_hung: bool) -> Result<(), String> {
    if start_hung {
        let killed = kill_processes_naming(id);
        tracing::debug!(killed, id, "killed the processes of a hung OCI runtime");
    }
    tokio::time::timeout(REMOVE_TIMEOUT, remove_container(docker, id))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "remove: the engine did not remove it within {REMOVE_TIMEOUT:?}"
            ))
        })
}

/// Kills every host process whose command line carries `id` (a container's full id appears
/// in its shim's and its runtime's arguments); returns how many.
fn kill_processes_naming(id: &str) -> usize {
    let cmd = ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always);
    kill_processes_where(cmd, |p| {
        p.cmd().iter().any(|arg| arg.to_string_lossy().contains(id))
    })
}

/// Force-removes one container, running or not.
async fn remove_container(docker: &Docker, id: &str) -> Result<(), String> {
    let options = RemoveContainerOptionsBuilder::new().force(true).build();
    docker
        .remove_container(id, Some(options))
        .await
        .map_err(|e| format!("remove: {}", engine_message(&e)))
}

#[async_trait]
impl Instance for ContainerInstance {
    async fn create(&mut self, launched: Instant, m: &mut Measurement) -> Result<(), String> {
        let body = self
            .body
            .take()
            .ok_or("the container was already created")?;
        let created = self
            .docker
            .create_container(None, body)
            .await
            .map_err(|e| format!("create: {}", engine_message(&e)))?;
        self.id = Some(created.id);
        m.created = Some(launched.elapsed());
        Ok(())
    }

    async fn start(
        &mut self,
        _launched: Instant,
        _signals: &Signals,
        _m: &mut Measurement,
    ) -> Result<(), String> {
        let id = self.id()?.to_string();
        match tokio::time::timeout(self.ready, self.docker.start_container(&id, None)).await {
            Ok(started) => started.map_err(|e| format!("start: {}", engine_message(&e))),
            Err(_) => {
                self.start_hung = true;
                Err(format!(
                    "start: the OCI runtime did not start the container within {:?} (the \
                     ready timeout)",
                    self.ready
                ))
            }
        }
    }

    async fn ended(&mut self) -> String {
        let Ok(id) = self.id().map(str::to_string) else {
            return "the container was never created".to_string();
        };
        let exit = self.docker.wait_container(&id, None).next().await;
        let how = match exit {
            Some(Ok(response)) => format!("exited with code {}", response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                format!("exited with code {code}")
            }
            Some(Err(e)) => format!("could not be watched ({})", engine_message(&e)),
            None => "could not be watched (the engine closed the wait)".to_string(),
        };
        format!(
            "the container {how} before answering; {}",
            self.log_tail(&id).await
        )
    }

    async fn explain(&mut self, probe_error: String) -> String {
        match self.id().map(str::to_string) {
            Ok(id) => format!("{probe_error}; {}", self.log_tail(&id).await),
            Err(_) => probe_error,
        }
    }

    async fn read_memory(&mut self, m: &mut Measurement) {
        match self.id().map(str::to_string) {
            Ok(id) => self.measure_memory(&id, m).await,
            Err(e) => m.note(format!("memory: {e}")),
        }
    }

    /// The processes in the container's cgroup and its shim.
    async fn host_processes(&mut self) -> Result<Vec<u32>, String> {
        let id = self.id()?.to_string();
        let pid = self.init_pid(&id).await?;
        let mut pids = MemoryCgroup::of_process(pid)
            .and_then(|cgroup| cgroup.pids())
            .map_err(|e| e.to_string())?;
        pids.push(container_shim(pid, &id).map_err(|e| e.to_string())?);
        Ok(pids)
    }

    /// The kernel's count for the container's cgroup (every thread to its end), and the
    /// shim's from `/proc`.
    async fn cpu_time(&mut self) -> Result<Duration, String> {
        let id = self.id()?.to_string();
        let pid = self.init_pid(&id).await?;
        let shim = container_shim(pid, &id).map_err(|e| e.to_string())?;
        let inside = cpu::cgroup_cpu_time(pid).map_err(|e| e.to_string())?;
        Ok(inside + cpu::cpu_time(&[shim]).map_err(|e| e.to_string())?)
    }

    /// A graceful stop: SIGTERM, then the engine's SIGKILL after `timeout`.
    async fn stop(&mut self, timeout: Duration) -> Result<(), String> {
        self.grace_s = grace_seconds(timeout);
        let options = StopContainerOptionsBuilder::new().t(self.grace_s).build();
        self.docker
            .stop_container(self.id()?, Some(options))
            .await
            .map_err(|e| format!("stop: {}", engine_message(&e)))
    }

    /// The engine tells only afterwards, by the exit code, whether its SIGKILL was needed.
    async fn killed(&mut self) -> Option<String> {
        let id = self.id().ok()?.to_string();
        (self.exit_code(&id).await == Some(SIGKILL_EXIT_CODE)).then(|| {
            format!(
                "the workload ignored SIGTERM: the engine killed it after {} s \
                 (set init = true, or handle SIGTERM)",
                self.grace_s
            )
        })
    }

    async fn remove(&mut self, _m: &mut Measurement) -> Result<(), String> {
        let Some(id) = self.id.clone() else {
            return Ok(());
        };
        remove_bounded(&self.docker, &id, self.start_hung)
            .await
            .map_err(|e| format!("{e}; remove it with: docker rm -f {id}"))
    }
}

/// The engine's stop grace period, in whole seconds (at least 1).
fn grace_seconds(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// The containerd shim of the container whose init process is `pid`: its parent, which
/// must be a `containerd-shim` naming the container's id.
fn container_shim(pid: u32, id: &str) -> Result<u32, memory::MemoryError> {
    let shim = memory::parent_pid(pid)?;
    let command = memory::command_line(shim)?;
    if command.contains("containerd-shim") && command.contains(id) {
        Ok(shim)
    } else {
        Err(memory::MemoryError::Format {
            path: format!("/proc/{shim}/cmdline").into(),
            what: format!(
                "the parent of the container's init is not its containerd shim: {command}"
            ),
        })
    }
}

/// The label every container and image of the harness carries.
fn harness_label() -> HashMap<String, String> {
    HashMap::from([(
        HARNESS_LABEL.to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    )])
}

/// Force-removes every container matching a label filter (`KEY` or `KEY=VALUE`), running
/// or not; returns how many.
pub async fn remove_labelled(docker: &Docker, label: &str) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(found) = docker.list_containers(Some(options)).await else {
        return 0;
    };
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    let mut removed = 0;
    for id in found.into_iter().filter_map(|c| c.id) {
        if docker
            .remove_container(&id, Some(remove.clone()))
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Removes every image the harness built (they carry its label); returns how many.
pub async fn remove_labelled_images(docker: &Docker) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![HARNESS_LABEL.to_string()])]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    let Ok(images) = docker.list_images(Some(options)).await else {
        return 0;
    };
    let remove = RemoveImageOptionsBuilder::new().force(true).build();
    let mut removed = 0;
    for image in images {
        if docker
            .remove_image(&image.id, Some(remove.clone()), None)
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// The engine's saved tarball of the image (every layer), compressed with the one method
/// of every `image_compressed_bytes`, and the files it holds; read once per image id.
async fn saved_image(
    docker: &Docker,
    image: &str,
    identity: &str,
    cache_dir: &Path,
) -> Result<SavedImage, String> {
    let cache = FactsCache::new(cache_dir);
    if let Some(saved) = cache.load(identity) {
        return Ok(saved);
    }
    let mut tarball = Vec::new();
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        tarball.extend_from_slice(
            &chunk.map_err(|e| format!("saving image {image}: {}", engine_message(&e)))?,
        );
    }
    let host_kernel = crate::instrument::host::HostFacts::read().kernel;
    let (compressed, contents) = run_blocking(|| {
        (
            image_size::compressed_size(&tarball[..]),
            contents::from_saved_image(&tarball, &host_kernel),
        )
    });
    let saved = SavedImage {
        identity: identity.to_string(),
        compressed_bytes: compressed
            .map_err(|e| format!("compressing the saved image {image}: {e}"))?,
        extra: contents.map_err(|e| format!("reading the saved image {image}: {e}"))?,
    };
    cache.store(&saved);
    Ok(saved)
}

/// Builds `tag` from a `FROM scratch` context holding `rootfs` (never pulls).
async fn build_image(docker: &Docker, rootfs: &Path, tag: &str) -> Result<(), WrapError> {
    if !rootfs.is_dir() {
        return Err(WrapError::Docker(format!(
            "the image recipe made no {}: a container recipe must write OUT/rootfs/",
            rootfs.display()
        )));
    }
    let context = run_blocking(|| build_context(rootfs)).map_err(|e| {
        WrapError::Docker(format!(
            "packing {} into a build context: {e}",
            rootfs.display()
        ))
    })?;
    let labels = harness_label();
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| docker_error(&format!("building image {tag}"), e))?;
        if let Some(detail) = info.error_detail {
            return Err(WrapError::Docker(format!(
                "building image {tag}: {}",
                detail.message.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// A tar build context: a `FROM scratch` Dockerfile and the root filesystem, with
/// deterministic metadata so the same files give the same image.
fn build_context(rootfs: &Path) -> std::io::Result<Vec<u8>> {
    let dockerfile = b"FROM scratch\nCOPY rootfs/ /\n";
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", &dockerfile[..])?;
    tar.append_dir_all("rootfs", rootfs)?;
    tar.into_inner()
}
