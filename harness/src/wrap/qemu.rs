//! The QEMU wrap (not implemented yet: see issue 3).

use async_trait::async_trait;

use super::{LaunchContext, Measurement, PrepareContext, Wrap, WrapError};
use crate::scenario::WrapSpec;

/// A QEMU virtual machine wrap.
pub struct QemuWrap {
    spec: WrapSpec,
}

impl QemuWrap {
    /// Not implemented yet: always an error naming that.
    pub async fn prepare(
        spec: WrapSpec,
        _context: &PrepareContext<'_>,
    ) -> Result<QemuWrap, WrapError> {
        Err(WrapError::Qemu(format!(
            "wrap '{}': qemu wraps are not implemented in this version of shrinkwrap",
            spec.name
        )))
    }
}

#[async_trait]
impl Wrap for QemuWrap {
    fn spec(&self) -> &WrapSpec {
        &self.spec
    }
    fn runtime_version(&self) -> &str {
        ""
    }
    fn accel(&self) -> &str {
        ""
    }
    fn image_bytes(&self) -> u64 {
        0
    }
    async fn launch_once(&self, _context: &LaunchContext) -> Measurement {
        Measurement::default()
    }
    async fn remove_leftovers(&self, _session: &str) -> usize {
        0
    }
}
