//! The tunnels the procedures installed, by their [`TunnelId`]: the procedures hand out ids as dense slot numbers
//! (`controlplane::slots`), so a vector indexed by id finds one without a hash, and a warm start of a million
//! writes them in order instead of rehashing.

use std::net::IpAddr;

use controlplane::fastpath::{TunnelId, TunnelSpec};
use dataplane::binding::BindingId;
use dataplane::PortIndex;

/// A tunnel the procedures installed: its slot in the tables, what it was asked to be, and the neighbours whose
/// MACs its binding carries.
pub(super) struct Tunnel {
    pub slot: BindingId,
    pub spec: TunnelSpec,
    pub uses: Vec<(PortIndex, IpAddr)>,
}

#[derive(Default)]
pub(super) struct Tunnels {
    by_id: Vec<Option<Tunnel>>,
    len: usize,
}

impl Tunnels {
    /// Room for ids up to `ids` without growing.
    pub fn reserve(&mut self, ids: usize) {
        self.by_id.reserve(ids.saturating_sub(self.by_id.len()));
    }

    pub fn get(&self, id: TunnelId) -> Option<&Tunnel> {
        self.by_id.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// Puts `tunnel` under `id`, replacing any it had.
    pub fn insert(&mut self, id: TunnelId, tunnel: Tunnel) {
        let at = id.0 as usize;
        if at >= self.by_id.len() {
            self.by_id.resize_with(at + 1, || None);
        }
        if let Some(entry) = self.by_id.get_mut(at) {
            if entry.replace(tunnel).is_none() {
                self.len += 1;
            }
        }
    }

    pub fn remove(&mut self, id: TunnelId) -> Option<Tunnel> {
        let removed = self.by_id.get_mut(id.0 as usize).and_then(Option::take);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use controlplane::fastpath::{Function, TunnelEndpoints};

    fn tunnel(slot: u32) -> Tunnel {
        let endpoints = TunnelEndpoints::new("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()).unwrap();
        let spec = TunnelSpec {
            function: Function::Lma,
            endpoints,
            uplink_key: Some(slot),
            downlink_key: None,
            ue_ipv4: None,
            ue_ipv6_prefix: None,
            ue_mac: None,
        };
        Tunnel { slot: BindingId(slot), spec, uses: Vec::new() }
    }

    #[test]
    fn ids_are_found_replaced_and_removed_and_counted() {
        let mut tunnels = Tunnels::default();
        tunnels.insert(TunnelId(5), tunnel(1));
        tunnels.insert(TunnelId(0), tunnel(2));
        assert_eq!(tunnels.len(), 2);
        tunnels.insert(TunnelId(5), tunnel(3));
        assert_eq!(tunnels.len(), 2, "a replacement is not a new tunnel");
        assert_eq!(tunnels.get(TunnelId(5)).map(|t| t.slot), Some(BindingId(3)));
        assert!(tunnels.get(TunnelId(4)).is_none() && tunnels.get(TunnelId(99)).is_none());
        assert_eq!(tunnels.remove(TunnelId(5)).map(|t| t.slot), Some(BindingId(3)));
        assert!(tunnels.remove(TunnelId(5)).is_none(), "only once");
        assert!(tunnels.remove(TunnelId(1000)).is_none());
        assert_eq!(tunnels.len(), 1);
    }
}
