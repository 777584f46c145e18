//! Memory of a running instance, read on the host: RSS (sysinfo) and PSS (`smaps_rollup`)
//! summed over the instance's processes, a container's cgroup usage minus inactive file
//! pages (what `docker stats` shows), and a VMM's own overhead (RSS of every mapping that is
//! not guest RAM, as Firecracker counts it).

use std::path::{Path, PathBuf};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// A memory figure that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A /proc or cgroup file could not be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// A file did not have the expected content.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was missing.
        what: String,
    },
    /// sysinfo could not see the process.
    #[error("process {0} is not running")]
    NoProcess(u32),
    /// sysinfo could not start.
    #[error("sysinfo: {0}")]
    Sysinfo(String),
}

/// RSS and PSS summed over a set of processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident set size: shared pages counted in full.
    pub rss_bytes: u64,
    /// Proportional set size: shared pages divided among their users.
    pub pss_bytes: u64,
}

fn read(path: &Path) -> Result<String, MemoryError> {
    std::fs::read_to_string(path).map_err(|cause| MemoryError::Read {
        path: path.to_path_buf(),
        cause,
    })
}

/// RSS (from sysinfo) and PSS (from `/proc/PID/smaps_rollup`) summed over `pids`.
pub fn process_memory(pids: &[u32]) -> Result<ProcessMemory, MemoryError> {
    let mut system = System::new().map_err(|e| MemoryError::Sysinfo(e.to_string()))?;
    let sys_pids: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p)).collect();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&sys_pids),
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    let mut total = ProcessMemory {
        rss_bytes: 0,
        pss_bytes: 0,
    };
    for &pid in pids {
        let process = system
            .process(Pid::from_u32(pid))
            .ok_or(MemoryError::NoProcess(pid))?;
        total.rss_bytes += process.memory();
        let path = PathBuf::from(format!("/proc/{pid}/smaps_rollup"));
        total.pss_bytes += kib_field(&read(&path)?, "Pss:").ok_or(MemoryError::Format {
            path,
            what: "no Pss line".into(),
        })? * 1024;
    }
    Ok(total)
}

/// The value of a `Name:   123 kB` line, in KiB.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The memory cgroup a process belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryCgroup {
    /// The cgroup's folder under /sys/fs/cgroup.
    pub dir: PathBuf,
    /// Whether it is a cgroup v2 (unified) group.
    pub unified: bool,
}

impl MemoryCgroup {
    /// The memory cgroup of `pid`, from `/proc/PID/cgroup`.
    pub fn of_process(pid: u32) -> Result<MemoryCgroup, MemoryError> {
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = read(&path)?;
        memory_cgroup_from(&text, Path::new("/sys/fs/cgroup")).ok_or(MemoryError::Format {
            path,
            what: "no memory cgroup listed".into(),
        })
    }

    /// Every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<u32>, MemoryError> {
        let path = self.dir.join("cgroup.procs");
        Ok(read(&path)?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect())
    }

    /// Usage minus inactive file pages: the working set, as `docker stats` reports it.
    pub fn working_set_bytes(&self) -> Result<u64, MemoryError> {
        let (usage_file, inactive_key) = if self.unified {
            ("memory.current", "inactive_file")
        } else {
            ("memory.usage_in_bytes", "total_inactive_file")
        };
        let usage_path = self.dir.join(usage_file);
        let usage: u64 = read(&usage_path)?
            .trim()
            .parse()
            .map_err(|_| MemoryError::Format {
                path: usage_path,
                what: "not a number".into(),
            })?;
        let stat_path = self.dir.join("memory.stat");
        let inactive = stat_value(&read(&stat_path)?, inactive_key).ok_or(MemoryError::Format {
            path: stat_path,
            what: format!("no {inactive_key}"),
        })?;
        Ok(usage.saturating_sub(inactive))
    }
}

/// Finds the memory controller's cgroup in a `/proc/PID/cgroup` text: the v1 `memory` line,
/// or the v2 `0::` line when no v1 memory controller is mounted.
fn memory_cgroup_from(text: &str, root: &Path) -> Option<MemoryCgroup> {
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some(MemoryCgroup {
                dir: root.join("memory").join(relative),
                unified: false,
            });
        }
        if id == "0" && controllers.is_empty() {
            unified = Some(MemoryCgroup {
                dir: root.join(relative),
                unified: true,
            });
        }
    }
    unified
}

fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// RSS of every mapping of `pid` except the guest RAM, which is the mapping whose size is
/// exactly `guest_ram_bytes`. Errors when no such mapping exists, rather than guessing.
pub fn vmm_overhead_bytes(pid: u32, guest_ram_bytes: u64) -> Result<u64, MemoryError> {
    let path = PathBuf::from(format!("/proc/{pid}/smaps"));
    let text = read(&path)?;
    overhead_from_smaps(&text, guest_ram_bytes).ok_or(MemoryError::Format {
        path,
        what: format!("no mapping of exactly {guest_ram_bytes} bytes (the guest RAM)"),
    })
}

fn overhead_from_smaps(smaps: &str, guest_ram_bytes: u64) -> Option<u64> {
    let guest_kib = guest_ram_bytes / 1024;
    let mut total_rss_kib = 0;
    let mut guest_rss_kib = None;
    let mut size_kib = None;
    for line in smaps.lines() {
        if let Some(v) = kib_field(line, "Size:") {
            size_kib = Some(v);
        } else if let Some(rss) = kib_field(line, "Rss:") {
            total_rss_kib += rss;
            if size_kib == Some(guest_kib) && guest_rss_kib.is_none() {
                guest_rss_kib = Some(rss);
            }
        }
    }
    guest_rss_kib.map(|guest| (total_rss_kib - guest) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v1_memory_cgroup() {
        let text = "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        let cg = memory_cgroup_from(text, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(cg.dir, Path::new("/sys/fs/cgroup/memory/docker/abc"));
        assert!(!cg.unified);
    }

    #[test]
    fn finds_the_unified_cgroup_when_there_is_no_v1_memory() {
        let text = "0::/system.slice/docker-abc.scope\n";
        let cg = memory_cgroup_from(text, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(
            cg.dir,
            Path::new("/sys/fs/cgroup/system.slice/docker-abc.scope")
        );
        assert!(cg.unified);
    }

    #[test]
    fn reads_kib_fields_and_stat_values() {
        let rollup = "00400000-7fff [rollup]\nRss:  2048 kB\nPss:   1024 kB\n";
        assert_eq!(kib_field(rollup, "Pss:"), Some(1024));
        assert_eq!(kib_field(rollup, "Swap:"), None);
        let stat = "cache 10\ntotal_inactive_file 4096\ninactive_file 1\n";
        assert_eq!(stat_value(stat, "total_inactive_file"), Some(4096));
        assert_eq!(stat_value(stat, "inactive_file"), Some(1));
    }

    #[test]
    fn vmm_overhead_excludes_exactly_the_guest_ram_mapping() {
        let smaps = "\
55d0-55e0 r-xp 00000000 08:01 1 /usr/bin/qemu-system-x86_64
Size:               4096 kB
Rss:                3000 kB
7f00-7f10 rw-p 00000000 00:00 0
Size:             262144 kB
Rss:               50000 kB
7f20-7f30 rw-p 00000000 00:00 0
Size:               8192 kB
Rss:                1000 kB
";
        assert_eq!(
            overhead_from_smaps(smaps, 256 * 1024 * 1024),
            Some(4000 * 1024)
        );
        assert_eq!(overhead_from_smaps(smaps, 128 * 1024 * 1024), None);
    }

    #[test]
    fn own_process_memory_is_positive() {
        let m = process_memory(&[std::process::id()]).unwrap();
        assert!(m.rss_bytes > 0 && m.pss_bytes > 0);
        assert!(m.pss_bytes <= m.rss_bytes + 4096);
    }

    #[test]
    fn a_missing_process_is_an_error() {
        // PID numbers wrap far below this.
        assert!(process_memory(&[u32::MAX - 1]).is_err());
    }
}
