//! What bounded a load's throughput, judged from CPU time: on a host whose CPUs the load
//! generator and the instance share, the figure is the instance's own only when the
//! generator was not the one filling them.

use std::fmt;
use std::time::Duration;

/// Share of the host's CPU time busy, or of one thread's time running, from which it counts
/// as full.
pub const FULL: f64 = 0.9;

/// The CPU figures of one load.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// The recorded load's length.
    pub elapsed: Duration,
    /// CPU time of the load generator.
    pub generator: Option<Duration>,
    /// CPU time of the instance's host processes.
    pub instance: Option<Duration>,
    /// Share of the host's CPU time that was busy, 0 to 1.
    pub host_busy: Option<f64>,
    /// CPU time of the instance's busiest host thread (a VM's vCPU under TCG).
    pub busiest_instance_thread: Option<Duration>,
}

/// What bounded a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The host's CPUs were full and the generator used at least as much as the instance:
    /// the instance may serve more than measured.
    Generator,
    /// The host's CPUs were full and the instance used more than the generator.
    Instance,
    /// One thread of the instance ran all the time (a VM's single vCPU): it is the limit.
    InstanceThread,
    /// The host had idle CPU and no instance thread was full: the answers' own time (or a
    /// lock, or I/O) bounded the closed loop.
    Latency,
    /// A CPU figure is missing.
    Unknown,
}

impl Limit {
    /// Judges a load: a full host first, then a full instance thread, else latency.
    pub fn judge(cpu: &CpuUse) -> Limit {
        let (Some(generator), Some(instance), Some(host_busy)) =
            (cpu.generator, cpu.instance, cpu.host_busy)
        else {
            return Limit::Unknown;
        };
        let elapsed = cpu.elapsed.as_secs_f64();
        let thread_full = cpu
            .busiest_instance_thread
            .is_some_and(|t| elapsed > 0.0 && t.as_secs_f64() >= FULL * elapsed);
        if host_busy >= FULL {
            if generator >= instance {
                Limit::Generator
            } else {
                Limit::Instance
            }
        } else if thread_full {
            Limit::InstanceThread
        } else {
            Limit::Latency
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Generator => "generator",
            Limit::Instance => "instance",
            Limit::InstanceThread => "instance thread",
            Limit::Latency => "latency",
            Limit::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(generator_s: f64, instance_s: f64, host_busy: f64, thread_s: f64) -> Limit {
        let s = Duration::from_secs_f64;
        Limit::judge(&CpuUse {
            elapsed: s(3.0),
            generator: Some(s(generator_s)),
            instance: Some(s(instance_s)),
            host_busy: Some(host_busy),
            busiest_instance_thread: Some(s(thread_s)),
        })
    }

    #[test]
    fn a_full_host_is_the_generators_fault_when_it_used_as_much_as_the_instance() {
        assert_eq!(judge(3.0, 2.6, 0.95, 0.5), Limit::Generator);
        assert_eq!(judge(2.0, 3.8, 0.95, 0.5), Limit::Instance);
    }

    #[test]
    fn with_idle_cpu_a_full_thread_is_the_limit_else_latency() {
        assert_eq!(judge(0.1, 3.2, 0.6, 2.9), Limit::InstanceThread);
        assert_eq!(judge(0.1, 1.5, 0.3, 1.0), Limit::Latency);
        assert_eq!(Limit::judge(&CpuUse::default()), Limit::Unknown);
    }
}
