//! Instruments: what reads a figure off a running instance or the host. The probe times the
//! first HTTP response ([`probe`]), [`load`] drives a closed loop of requests, [`console`]
//! watches an instance's output, [`memory`] reads /proc and cgroups, [`cpu`] the CPU time of processes, and [`host`] names the
//! machine every row was measured on.

pub mod console;
pub mod cpu;
pub mod host;
pub mod load;
pub mod memory;
pub mod probe;
