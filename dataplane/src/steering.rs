//! NIC steering by GRE key: which receive queue — which worker — a tunnel's packets land on.
//!
//! RSS hashes the outer addresses, and every tunnel between one MAG and one LMA has the same ones: all of them
//! land on one queue. The gateway's own receive keys name their owning worker in their low bits
//! (`controlplane::placement`), so a `core` port that can match the GRE key sends each worker the tunnels it owns:
//! one rule per worker and outer family, `ETH / IPV4|IPV6 / GRE (K bit) / GRE_KEY (key & mask == worker) →
//! QUEUE worker` (`dpdk::Port::steer` installs them after `rte_flow_validate`). Where the device cannot (the
//! virtual devices here cannot), the port keeps RSS and every worker holds every binding, so whichever worker a
//! packet reaches forwards it.

use crate::dpdk::QueueId;

/// The outer header a steering rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outer {
    Ipv4,
    Ipv6,
}

/// One rule: GRE packets over `outer` with the K bit and `key & mask == value` go to rx queue `queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteeringRule {
    pub outer: Outer,
    pub value: u32,
    pub mask: u32,
    pub queue: QueueId,
}

impl SteeringRule {
    /// Does a GRE packet over `outer` with `key` match?
    pub fn matches(&self, outer: Outer, key: u32) -> bool {
        outer == self.outer && key & self.mask == self.value
    }
}

/// The rules that send each of `workers` workers (rx queue w of the port) the keys whose low `worker_bits` name
/// it; none when there is nothing to steer (one worker, or keys without a worker field).
pub fn worker_rules(worker_bits: u8, workers: u16) -> Vec<SteeringRule> {
    if workers < 2 || worker_bits == 0 || worker_bits > 16 {
        return Vec::new();
    }
    let mask = (1u32 << worker_bits) - 1;
    let to_worker =
        |outer| (0..workers).map(move |w| SteeringRule { outer, value: u32::from(w), mask, queue: QueueId(w) });
    to_worker(Outer::Ipv4).chain(to_worker(Outer::Ipv6)).collect()
}

/// How a port's received tunnels reach their workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Steering {
    /// Nothing to steer: one worker, or a port without the core role.
    None,
    /// `rte_flow` rules by GRE key, this many.
    ByKey { rules: usize },
    /// The device refused the rules: RSS spreads what it can and every worker holds every binding.
    Rss { reason: String },
}

impl std::fmt::Display for Steering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Steering::None => write!(f, "none"),
            Steering::ByKey { rules } => write!(f, "gre-key ({rules} rte_flow rules)"),
            Steering::Rss { reason } => write!(f, "rss (rte_flow refused: {reason})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_key_matches_exactly_its_workers_rule() {
        let rules = worker_rules(2, 3);
        assert_eq!(rules.len(), 6, "three workers, two outer families");
        for key in [1u32, 2, 3, 4, 5, 6, 0x8000_0001, 0xffff_fffe] {
            for outer in [Outer::Ipv4, Outer::Ipv6] {
                let hits: Vec<_> = rules.iter().filter(|r| r.matches(outer, key)).collect();
                if key & 3 < 3 {
                    assert_eq!(hits.len(), 1, "{key:#x}");
                    assert_eq!(u32::from(hits[0].queue.0), key & 3);
                } else {
                    assert!(hits.is_empty(), "field 3 names no worker: RSS takes {key:#x}");
                }
            }
        }
        assert!(worker_rules(0, 4).is_empty() && worker_rules(1, 1).is_empty());
    }
}
