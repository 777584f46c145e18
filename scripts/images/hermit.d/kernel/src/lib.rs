//! Empty: this package only names the kernel source (see Cargo.toml).
