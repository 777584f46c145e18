//! Image recipes: runs `scripts/images/<recipe>` and caches what it makes outside the clone,
//! keyed by a hash of the recipe and its declared inputs, so a recipe runs again only when
//! something it depends on changed. See scripts/images/README.md for the contract.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::scenario::ImageSpec;

/// Folder names never hashed inside an input folder: build output and VCS data.
const IGNORED_DIRS: [&str; 2] = ["target", ".git"];

/// An image recipe that could not produce its image.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The recipe executable does not exist.
    #[error(
        "image recipe {0} not found: is the repository complete? (recipes live in scripts/images/)"
    )]
    Missing(PathBuf),
    /// A declared input does not exist.
    #[error("input {input} of recipe '{recipe}' does not exist: fix the scenario's image.inputs")]
    MissingInput {
        /// The recipe.
        recipe: String,
        /// The missing path.
        input: PathBuf,
    },
    /// Reading inputs or writing the cache failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// The recipe ran and failed.
    #[error("image recipe '{recipe}' failed: {last_line} (full log: {log})")]
    Failed {
        /// The recipe.
        recipe: String,
        /// The last line it printed on stderr.
        last_line: String,
        /// The kept build log.
        log: PathBuf,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RecipeError {
    let context = context.into();
    move |cause| RecipeError::Io { context, cause }
}

/// Where recipes, their inputs and their cached outputs live.
#[derive(Debug, Clone)]
pub struct ImageCache {
    /// The repository root (holds `scripts/images/`).
    pub root: PathBuf,
    /// The cache folder (`images/` for outputs, `work/` for recipes' scratch).
    pub dir: PathBuf,
}

/// A built image: the folder holding the recipe's artifacts.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The artifacts.
    pub dir: PathBuf,
    /// First 16 hex digits of the input hash (names the cache entry and image tags).
    pub key: String,
}

impl ImageCache {
    /// The cache at `$SHRINKWRAP_CACHE`, else `$XDG_CACHE_HOME/shrinkwrap`, else
    /// `~/.cache/shrinkwrap`, for the repository at `root`.
    pub fn for_repository(root: PathBuf) -> ImageCache {
        let dir = std::env::var_os("SHRINKWRAP_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("shrinkwrap"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shrinkwrap"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("shrinkwrap-cache"));
        ImageCache { root, dir }
    }

    fn recipe_path(&self, spec: &ImageSpec) -> PathBuf {
        self.root.join("scripts/images").join(&spec.recipe)
    }

    /// Checks that the recipe and its inputs exist, without building.
    pub fn check(&self, spec: &ImageSpec) -> Result<(), RecipeError> {
        let recipe = self.recipe_path(spec);
        if !recipe.is_file() {
            return Err(RecipeError::Missing(recipe));
        }
        for input in &spec.inputs {
            if !self.root.join(input).exists() {
                return Err(RecipeError::MissingInput {
                    recipe: spec.recipe.clone(),
                    input: input.clone(),
                });
            }
        }
        Ok(())
    }

    /// Hash of everything the image depends on: recipe name, arguments, the recipe file and
    /// every file under the declared inputs (path, executable bit, content).
    pub fn key(&self, spec: &ImageSpec) -> Result<String, RecipeError> {
        self.check(spec)?;
        let mut hasher = Sha256::new();
        hasher.update(spec.recipe.as_bytes());
        for arg in &spec.args {
            hasher.update([0]);
            hasher.update(arg.as_bytes());
        }
        let mut files = vec![self.recipe_path(spec)];
        for input in &spec.inputs {
            collect_files(&self.root.join(input), &mut files)?;
        }
        files.sort();
        files.dedup();
        for file in files {
            let relative = file.strip_prefix(&self.root).unwrap_or(&file);
            let content =
                std::fs::read(&file).map_err(io_error(format!("reading {}", file.display())))?;
            hasher.update([1]);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([u8::from(is_executable(&file))]);
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(&content);
        }
        Ok(hex::encode(hasher.finalize())[..16].to_string())
    }

    /// The cached image for `spec`, running the recipe first when it is missing or its inputs
    /// changed (or `force`). `progress` receives the recipe's `==> ` step lines.
    pub fn ensure(
        &self,
        spec: &ImageSpec,
        force: bool,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<BuiltImage, RecipeError> {
        let key = self.key(spec)?;
        let name = entry_name(spec, &key);
        let images = self.dir.join("images");
        let dir = images.join(&name);
        std::fs::create_dir_all(&images)
            .map_err(io_error(format!("creating {}", images.display())))?;

        // One build per recipe at a time, across processes (parallel tests, two terminals).
        let lock_path = images.join(format!(".{}.lock", spec.recipe));
        let lock = File::create(&lock_path)
            .map_err(io_error(format!("creating {}", lock_path.display())))?;
        lock.lock()
            .map_err(io_error(format!("locking {}", lock_path.display())))?;

        if dir.is_dir() && !force {
            progress(&format!("{name} from the cache"));
            return Ok(BuiltImage { dir, key });
        }
        let staging = images.join(format!(".{name}.partial"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(io_error(format!("clearing {}", staging.display())))?;
        }
        std::fs::create_dir_all(&staging)
            .map_err(io_error(format!("creating {}", staging.display())))?;
        let work = self.dir.join("work").join(&spec.recipe);
        std::fs::create_dir_all(&work).map_err(io_error(format!("creating {}", work.display())))?;

        let log_path = images.join(format!("{name}.log"));
        let outcome = self.run_recipe(spec, &staging, &work, &log_path, progress);
        if let Err(error) = outcome {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(io_error(format!("replacing {}", dir.display())))?;
        }
        std::fs::rename(&staging, &dir)
            .map_err(io_error(format!("moving the build to {}", dir.display())))?;
        let kept_log = dir.join("build.log");
        std::fs::rename(&log_path, &kept_log)
            .map_err(io_error(format!("keeping {}", kept_log.display())))?;
        Ok(BuiltImage { dir, key })
    }

    fn run_recipe(
        &self,
        spec: &ImageSpec,
        out: &Path,
        work: &Path,
        log_path: &Path,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(), RecipeError> {
        let log =
            File::create(log_path).map_err(io_error(format!("creating {}", log_path.display())))?;
        let log = Arc::new(Mutex::new(log));
        let recipe = self.recipe_path(spec);
        let mut child = Command::new(&recipe)
            .arg(out)
            .args(&spec.args)
            .current_dir(&self.root)
            .env("SHRINKWRAP_OUT", out)
            .env("SHRINKWRAP_WORK", work)
            .env("SHRINKWRAP_ROOT", &self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_error(format!("starting {}", recipe.display())))?;

        let last_error_line = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().map(BufReader::new);
        let stderr = child.stderr.take().map(BufReader::new);
        std::thread::scope(|scope| {
            if let Some(stderr) = stderr {
                let log = Arc::clone(&log);
                let last = Arc::clone(&last_error_line);
                scope.spawn(move || {
                    for line in stderr.lines().map_while(Result::ok) {
                        log_line(&log, &line);
                        if !line.trim().is_empty() {
                            *last.lock().unwrap_or_else(|p| p.into_inner()) = line;
                        }
                    }
                });
            }
            if let Some(stdout) = stdout {
                for line in stdout.lines().map_while(Result::ok) {
                    log_line(&log, &line);
                    if let Some(step) = line.strip_prefix("==> ") {
                        progress(step);
                    }
                }
            }
        });
        let status = child
            .wait()
            .map_err(io_error(format!("waiting for {}", recipe.display())))?;
        if status.success() {
            return Ok(());
        }
        let last_line = last_error_line
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // The log outlives the failed build: keep it beside the cache entries.
        Err(RecipeError::Failed {
            recipe: spec.recipe.clone(),
            last_line: if last_line.is_empty() {
                format!("exited with {status}")
            } else {
                last_line
            },
            log: log_path.to_path_buf(),
        })
    }
}

fn log_line(log: &Mutex<File>, line: &str) {
    let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(file, "{line}");
}

/// Cache entry name: recipe, arguments and key, e.g. `linux-appliance-hello-node-0123abcd...`.
fn entry_name(spec: &ImageSpec, key: &str) -> String {
    let mut name = spec.recipe.clone();
    for arg in &spec.args {
        name.push('-');
        name.extend(arg.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        }));
    }
    format!("{name}-{key}")
}

/// Every file under `path`, following symbolic links (an input such as /usr/bin/node is
/// often one).
fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), RecipeError> {
    let meta = std::fs::metadata(path).map_err(io_error(format!("reading {}", path.display())))?;
    if meta.is_file() {
        files.push(path.to_path_buf());
    } else if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(io_error(format!("listing {}", path.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", path.display())))?;
            let name = entry.file_name();
            if IGNORED_DIRS.iter().any(|ignored| name == *ignored) {
                continue;
            }
            collect_files(&entry.path(), files)?;
        }
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A throwaway repository with one recipe that counts its own runs.
    fn fixture(script: &str) -> (tempfile::TempDir, ImageCache, ImageSpec) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("scripts/images")).unwrap();
        std::fs::create_dir_all(root.join("src/target")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("src/target/ignored"), "x").unwrap();
        let recipe = root.join("scripts/images/demo");
        std::fs::write(&recipe, script).unwrap();
        std::fs::set_permissions(&recipe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cache = ImageCache {
            root,
            dir: tmp.path().join("cache"),
        };
        let spec = ImageSpec {
            recipe: "demo".into(),
            args: vec!["x".into()],
            inputs: vec![PathBuf::from("src")],
        };
        (tmp, cache, spec)
    }

    const COUNTING: &str = "#!/bin/sh\necho \"==> making $2\"\necho run >> \"$SHRINKWRAP_WORK/runs\"\necho made > \"$1/artifact\"\n";

    #[test]
    fn builds_once_and_rebuilds_when_an_input_changes() {
        let (_tmp, cache, spec) = fixture(COUNTING);
        let steps = Mutex::new(Vec::new());
        let progress = |s: &str| steps.lock().unwrap().push(s.to_string());
        let first = cache.ensure(&spec, false, &progress).unwrap();
        assert_eq!(
            std::fs::read_to_string(first.dir.join("artifact")).unwrap(),
            "made\n"
        );
        assert!(first.dir.join("build.log").is_file());
        assert_eq!(steps.lock().unwrap().as_slice(), ["making x"]);

        let again = cache.ensure(&spec, false, &progress).unwrap();
        assert_eq!(again.dir, first.dir);
        assert!(steps.lock().unwrap()[1].ends_with("from the cache"));

        // Build output inside an input folder does not count as a change.
        std::fs::write(cache.root.join("src/target/ignored"), "y").unwrap();
        assert_eq!(cache.key(&spec).unwrap(), first.key);

        std::fs::write(cache.root.join("src/a.txt"), "b").unwrap();
        let changed = cache.ensure(&spec, false, &progress).unwrap();
        assert_eq!(steps.lock().unwrap().last().unwrap(), "making x");
        assert_ne!(changed.key, first.key);
        let runs = std::fs::read_to_string(cache.dir.join("work/demo/runs")).unwrap();
        assert_eq!(runs.lines().count(), 2);
    }

    #[test]
    fn arguments_are_part_of_the_key() {
        let (_tmp, cache, mut spec) = fixture(COUNTING);
        let a = cache.key(&spec).unwrap();
        spec.args = vec!["y".into()];
        assert_ne!(cache.key(&spec).unwrap(), a);
    }

    #[test]
    fn a_failing_recipe_reports_its_last_error_line_and_leaves_no_entry() {
        let (_tmp, cache, spec) = fixture(
            "#!/bin/sh\necho progress\necho 'libfoo missing: run scripts/setup' >&2\nexit 3\n",
        );
        let err = cache.ensure(&spec, false, &|_| {}).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("libfoo missing: run scripts/setup"), "{text}");
        let RecipeError::Failed { log, .. } = err else {
            panic!("expected a failed recipe")
        };
        assert!(std::fs::read_to_string(log).unwrap().contains("progress"));
        let entries: Vec<_> = std::fs::read_dir(cache.dir.join("images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".log") && !n.ends_with(".lock"))
            .collect();
        assert!(entries.is_empty(), "{entries:?}");
    }

    #[test]
    fn missing_recipe_and_inputs_are_named() {
        let (_tmp, cache, mut spec) = fixture(COUNTING);
        spec.inputs.push(PathBuf::from("nope"));
        assert!(cache.check(&spec).unwrap_err().to_string().contains("nope"));
        spec.recipe = "absent".into();
        assert!(matches!(cache.check(&spec), Err(RecipeError::Missing(_))));
    }
}
