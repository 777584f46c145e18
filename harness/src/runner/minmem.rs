//! The smallest guest RAM with which a VM still serves its first response, found by binary
//! search over cold launches (as the Unikraft and Lupine papers measured it).

use std::time::Duration;

use crate::wrap::{LaunchContext, Wrap, launch_once};

/// Least wait for a first response during the search.
const MIN_SEARCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Sizes tried upwards when the answer fails its confirming launch.
const CONFIRMATIONS: u32 = 3;
/// The search waits this many times the first response at full RAM before calling a
/// launch failed (a starved guest may hang rather than exit).
const SEARCH_TIMEOUT_FACTOR: u32 = 4;

/// The search's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinMemory {
    /// Smallest guest RAM that served, MiB.
    pub mib: u32,
    /// Launches the search took.
    pub launches: u32,
}

/// Searches between 1 MiB and the wrap's configured RAM, which must work, then confirms the
/// answer with a second launch. `progress` hears about each launch.
pub async fn find_min_guest_memory(
    wrap: &dyn Wrap,
    context: &LaunchContext,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<MinMemory, String> {
    let Some(configured) = wrap.guest_memory_mb() else {
        return Err("not a VM: there is no guest RAM to search".to_string());
    };
    progress(&format!("{configured} MiB (the configured RAM)"));
    let full = launch_once(wrap, context, "minmem-full").await;
    let Some(ttfr) = full.ttfr.filter(|_| full.ok) else {
        return Err(format!(
            "it does not serve even with its configured {configured} MiB: {}",
            full.notes.join("; ")
        ));
    };
    let timeout = (ttfr * SEARCH_TIMEOUT_FACTOR).max(MIN_SEARCH_TIMEOUT);
    let (mut works, mut fails) = (configured, 0u32);
    let mut launches = 1;
    while works - fails > 1 {
        if context.interrupt.is_raised() {
            return Err("interrupted".to_string());
        }
        let mid = fails + (works - fails) / 2;
        let Some(resized) = wrap.with_guest_memory(mid, timeout) else {
            return Err("this wrap cannot change its guest RAM".to_string());
        };
        let served = launch_once(resized.as_ref(), context, &format!("minmem-{mid}"))
            .await
            .ok;
        launches += 1;
        progress(&format!(
            "{mid} MiB: {}",
            if served { "serves" } else { "fails" }
        ));
        if served {
            works = mid;
        } else {
            fails = mid;
        }
    }
    // One launch per point can be lucky near the edge: the answer must serve once more,
    // else the next size up is tried.
    for _ in 0..CONFIRMATIONS {
        let Some(resized) = wrap.with_guest_memory(works, timeout) else {
            break;
        };
        launches += 1;
        if launch_once(resized.as_ref(), context, &format!("minmem-{works}-again"))
            .await
            .ok
        {
            progress(&format!("{works} MiB: serves again"));
            return Ok(MinMemory {
                mib: works,
                launches,
            });
        }
        progress(&format!("{works} MiB: failed on a second launch"));
        if works == configured {
            break;
        }
        works += 1;
    }
    Err(format!(
        "no guest RAM near {works} MiB served twice in a row: the boundary is unstable"
    ))
}
