//! How the fast path names a port: its place in the pipeline's port list.

use std::fmt;

/// A port's place in [`crate::pipeline::PipelineConfig::ports`] (and in the gateway's `[[port]]` list): what
/// verdicts, counters, next hops, punts and injected frames name a port by. Not a DPDK port id, which the worker
/// maps it to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortIndex(pub usize);

impl PortIndex {
    /// For indexing per-port arrays and lists.
    #[inline(always)]
    pub fn get(self) -> usize {
        self.0
    }

    /// Every index of a list of `count` ports.
    pub fn all(count: usize) -> impl Iterator<Item = PortIndex> {
        (0..count).map(PortIndex)
    }
}

impl fmt::Display for PortIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
