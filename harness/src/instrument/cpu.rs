//! CPU time on the host: user plus system time of a set of processes from `/proc/PID/stat`
//! (in the kernel's clock ticks), or of a cgroup from the kernel's own accounting.
//!
//! `/proc` counts every thread of a process, those that ended included, but not the last
//! microseconds of a thread after it left its process's books (measured here: a server with
//! a thread per connection shows about 5% less CPU in `/proc` than in its cgroup; with
//! kept-alive connections the two agree within 1%). A cgroup counts every thread to its end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::memory::{MemoryError, cgroup_dir, read};

/// The user and system time `pids` have used so far, summed.
pub fn cpu_time(pids: &[u32]) -> Result<Duration, MemoryError> {
    let mut ticks = 0;
    for &pid in pids {
        ticks += process_ticks(pid)?;
    }
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// The CPU time the kernel accounted to the cgroup of `pid`: v1 `cpuacct.usage`, or v2
/// `cpu.stat`'s `usage_usec`.
pub fn cgroup_cpu_time(pid: u32) -> Result<Duration, MemoryError> {
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = read(&path)?;
    let (dir, unified) =
        cgroup_dir(&text, Path::new("/sys/fs/cgroup"), "cpuacct").ok_or(MemoryError::Format {
            path,
            what: "no cpuacct cgroup listed".into(),
        })?;
    if unified {
        let path = dir.join("cpu.stat");
        let usec = read(&path)?
            .lines()
            .find_map(|line| line.strip_prefix("usage_usec "))
            .and_then(|value| value.trim().parse().ok())
            .ok_or(MemoryError::Format {
                path,
                what: "no usage_usec line".into(),
            })?;
        Ok(Duration::from_micros(usec))
    } else {
        let path = dir.join("cpuacct.usage");
        let nanos = read(&path)?
            .trim()
            .parse()
            .map_err(|_| MemoryError::Format {
                path,
                what: "not a number".into(),
            })?;
        Ok(Duration::from_nanos(nanos))
    }
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`, in clock ticks.
fn process_ticks(pid: u32) -> Result<u64, MemoryError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = read(&path)?;
    stat_ticks(&text).ok_or(MemoryError::Format {
        path,
        what: "no utime and stime fields".into(),
    })
}

/// The sum of utime and stime in a `/proc/PID/stat` text. The command name (field 2) is in
/// parentheses and may hold spaces: fields are counted from its end, field 3 first.
fn stat_ticks(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 700 35 9 9 20 0 3 0";
        assert_eq!(stat_ticks(stat), Some(735));
        assert_eq!(stat_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn the_own_process_time_grows_with_work_done() {
        let me = [std::process::id()];
        let before = cpu_time(&me).unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = cpu_time(&me).unwrap() - before;
        // 300 ms of spinning on this thread, at the ticks' 10 ms resolution; other test
        // threads may add.
        assert!(used >= Duration::from_millis(250), "{used:?}");
    }
}
