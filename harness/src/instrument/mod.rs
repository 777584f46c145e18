//! Instruments: what reads a figure off a running instance or the host. The probe times the
//! first HTTP response ([`probe`]), [`memory`] reads /proc and cgroups, and [`host`] names
//! the machine every row was measured on.

pub mod host;
pub mod memory;
pub mod probe;
