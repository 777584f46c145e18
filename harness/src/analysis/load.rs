//! What bounded a load's throughput, judged from CPU time: on a host whose CPUs the load
//! generator and the instance share, the figure is the instance's only when the generator
//! was not the one filling them.

use std::fmt;
use std::time::Duration;

/// Share of the host's CPU time in use from which the host counts as full.
pub const FULL_HOST: f64 = 0.9;

/// What bounded a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The host's CPUs were full and the generator used at least as much as the instance:
    /// the instance may serve more than measured.
    Generator,
    /// The host's CPUs were full and the instance used more than the generator.
    Instance,
    /// The host had idle CPU: the answers' own time bounded the closed loop.
    Latency,
    /// A CPU figure is missing.
    Unknown,
}

impl Limit {
    /// Judges a load from the CPU time the generator and the instance used during `elapsed`
    /// on a host of `cpus` logical CPUs.
    pub fn judge(
        generator: Option<Duration>,
        instance: Option<Duration>,
        elapsed: Duration,
        cpus: u32,
    ) -> Limit {
        let (Some(generator), Some(instance)) = (generator, instance) else {
            return Limit::Unknown;
        };
        let capacity = elapsed.as_secs_f64() * f64::from(cpus.max(1));
        let used = generator.as_secs_f64() + instance.as_secs_f64();
        if capacity <= 0.0 {
            Limit::Unknown
        } else if used < FULL_HOST * capacity {
            Limit::Latency
        } else if generator >= instance {
            Limit::Generator
        } else {
            Limit::Instance
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Generator => "generator",
            Limit::Instance => "instance",
            Limit::Latency => "latency",
            Limit::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(generator_s: f64, instance_s: f64) -> Limit {
        let s = Duration::from_secs_f64;
        Limit::judge(Some(s(generator_s)), Some(s(instance_s)), s(3.0), 2)
    }

    #[test]
    fn a_full_host_is_the_generators_fault_when_it_used_as_much_as_the_instance() {
        assert_eq!(judge(3.0, 2.6), Limit::Generator);
        assert_eq!(judge(2.0, 3.8), Limit::Instance);
        // 5.3 of 6 CPU-seconds is under 90%: neither filled the host.
        assert_eq!(judge(2.0, 3.3), Limit::Latency);
        assert_eq!(judge(0.3, 1.0), Limit::Latency);
        let none = Limit::judge(None, Some(Duration::ZERO), Duration::from_secs(3), 2);
        assert_eq!(none, Limit::Unknown);
    }
}
