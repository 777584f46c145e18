//! CPU time on the host: user plus system time of a set of processes or of each of their
//! threads from `/proc` (in the kernel's clock ticks), of a cgroup from the kernel's own
//! accounting, and the whole host's busy time from `/proc/stat`.
//!
//! `/proc` counts every thread of a process, those that ended included, but not the last
//! microseconds of a thread after it left its process's books (measured here: a server with
//! a thread per connection shows about 5% less CPU in `/proc` than in its cgroup; with
//! kept-alive connections the two agree within 1%). A cgroup counts every thread to its end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::memory::{MemoryError, cgroup_dir, read};

/// The user and system time `pids` have used so far, summed.
pub fn cpu_time(pids: &[u32]) -> Result<Duration, MemoryError> {
    let mut ticks = 0;
    for &pid in pids {
        ticks += process_ticks(pid)?;
    }
    Ok(from_ticks(ticks))
}

/// A time in the kernel's clock ticks.
fn from_ticks(ticks: u64) -> Duration {
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
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

/// The host's CPU time so far, over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCpu {
    /// Time not idle (user, nice, system, irq, softirq, steal), in clock ticks.
    pub busy: u64,
    /// All time, idle and waiting for I/O included, in clock ticks.
    pub total: u64,
}

impl HostCpu {
    /// Reads the `cpu` line of `/proc/stat`.
    pub fn read() -> Result<HostCpu, MemoryError> {
        let path = PathBuf::from("/proc/stat");
        host_cpu_from(&read(&path)?).ok_or(MemoryError::Format {
            path,
            what: "no cpu line with 8 numbers".into(),
        })
    }

    /// The share of the host's CPU time that was busy since `before`, 0 to 1.
    pub fn busy_since(&self, before: &HostCpu) -> Option<f64> {
        let total = self.total.checked_sub(before.total).filter(|&t| t > 0)?;
        Some(self.busy.saturating_sub(before.busy) as f64 / total as f64)
    }
}

fn host_cpu_from(text: &str) -> Option<HostCpu> {
    let numbers: Vec<u64> = text
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))?
        .split_whitespace()
        .take(8)
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = numbers.try_into().ok()?;
    let busy = user + nice + system + irq + softirq + steal;
    Some(HostCpu {
        busy,
        total: busy + idle + iowait,
    })
}

/// The CPU time so far of every thread of `pids`, by thread ID. A thread or process that
/// ends while they are read is left out.
pub fn thread_times(pids: &[u32]) -> HashMap<u32, Duration> {
    let mut times = HashMap::new();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"));
            if let Some(ticks) = stat.ok().as_deref().and_then(stat_ticks) {
                times.insert(tid, from_ticks(ticks));
            }
        }
    }
    times
}

/// The most CPU time one thread used between two [`thread_times`] readings (a thread born
/// in between counts from zero).
pub fn busiest_thread(before: &HashMap<u32, Duration>, after: &HashMap<u32, Duration>) -> Duration {
    after
        .iter()
        .map(|(tid, &now)| now.saturating_sub(before.get(tid).copied().unwrap_or_default()))
        .max()
        .unwrap_or_default()
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
    fn host_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 30 800 50 2 3 10 0 0\ncpu0 50 2 15 400 25 1 1 5 0 0\n";
        let cpu = host_cpu_from(stat).unwrap();
        assert_eq!(
            cpu,
            HostCpu {
                busy: 150,
                total: 1000
            }
        );
        let later = HostCpu {
            busy: 240,
            total: 1100,
        };
        assert_eq!(later.busy_since(&cpu), Some(0.9));
        assert_eq!(cpu.busy_since(&cpu), None);
    }

    #[test]
    fn the_busiest_thread_is_the_one_that_grew_most() {
        let ms = Duration::from_millis;
        let before = HashMap::from([(1, ms(500)), (2, ms(10))]);
        let after = HashMap::from([(1, ms(600)), (2, ms(300)), (3, ms(50))]);
        assert_eq!(busiest_thread(&before, &after), ms(290));
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
