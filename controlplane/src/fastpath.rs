//! The narrow interface from the control plane to the fast path: table updates as plain data, and the
//! acknowledgement that makes "installed before the PBA" explicit.
//!
//! The state machines emit [`TunnelUpdate`]s, each tagged with a [`FastpathToken`] taken from one increasing
//! sequence. The I/O layer applies them in order (the data plane's `UpdateSender` epochs) and feeds back
//! `Input::FastpathApplied(t)` once every worker has applied everything up to and including `t`, or
//! `Input::FastpathRefused` if the tables refused update `t`. Messages that must not leave before an update is
//! live (an LMA's accepting PBA) are parked in a [`FastpathGate`] until then.
//!
//! [`TunnelSpec`] mirrors the data plane's `Binding` field for field, so the I/O layer translates without
//! thinking; [`TunnelId`] is the control plane's handle, which the I/O layer maps to the data plane's slot.

use crate::machine::Output;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which end of the tunnel this gateway is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Receives uplink by uplink key, sends downlink with the downlink key.
    Lma,
    /// Sends uplink with the uplink key, receives downlink by (LMAA, downlink key).
    Mag,
}

/// Outer addresses of a tunnel (TS 29.275 §6.1: Proxy-CoA and LMAA, or their IPv4 forms). `local` is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelEndpoints {
    Ipv6 { local: Ipv6Addr, remote: Ipv6Addr },
    Ipv4 { local: Ipv4Addr, remote: Ipv4Addr },
}

impl TunnelEndpoints {
    /// Endpoints from two addresses of the same family.
    pub fn new(local: IpAddr, remote: IpAddr) -> Option<Self> {
        match (local, remote) {
            (IpAddr::V6(local), IpAddr::V6(remote)) => Some(TunnelEndpoints::Ipv6 { local, remote }),
            (IpAddr::V4(local), IpAddr::V4(remote)) => Some(TunnelEndpoints::Ipv4 { local, remote }),
            _ => None,
        }
    }

    pub fn local(&self) -> IpAddr {
        match *self {
            TunnelEndpoints::Ipv6 { local, .. } => local.into(),
            TunnelEndpoints::Ipv4 { local, .. } => local.into(),
        }
    }

    pub fn remote(&self) -> IpAddr {
        match *self {
            TunnelEndpoints::Ipv6 { remote, .. } => remote.into(),
            TunnelEndpoints::Ipv4 { remote, .. } => remote.into(),
        }
    }
}

/// Everything the fast path needs for one PDN connection's tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelSpec {
    pub function: Function,
    pub endpoints: TunnelEndpoints,
    /// Chosen by the LMA (TS 29.275 §6.3): the LMA receives with it, the MAG sends with it.
    pub uplink_key: Option<u32>,
    /// Chosen by the MAG (TS 29.275 §6.2): the MAG receives with it, the LMA sends with it.
    pub downlink_key: Option<u32>,
    pub ue_ipv4: Option<Ipv4Addr>,
    /// The UE's /64 home network prefix (network address).
    pub ue_ipv6_prefix: Option<Ipv6Addr>,
    /// MAG: the UE's link-layer address on the access link (the MN Link-layer Identifier it attached with), where
    /// decapsulated downlink goes and Router Advertisements are sent.
    pub ue_mac: Option<[u8; 6]>,
}

/// The control plane's handle on one tunnel entry: the BCE or BULE id it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TunnelId(pub u32);

/// One change to the fast path's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelUpdate {
    /// A new entry (the slot's per-binding counters start at zero).
    Install { id: TunnelId, spec: TunnelSpec },
    /// New contents for an installed entry (handover, changed downlink key); counters carry on.
    Modify { id: TunnelId, spec: TunnelSpec },
    /// The entry is gone; its traffic is dropped from now on.
    Remove { id: TunnelId },
}

/// Position of an update in the one sequence of updates a state machine emits; acknowledgements are cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct FastpathToken(pub u64);

/// Issues tokens and holds outputs until the updates they depend on are live.
#[derive(Debug, Default)]
pub struct FastpathGate {
    last_issued: u64,
    applied: u64,
    parked: VecDeque<(u64, Output)>,
}

impl FastpathGate {
    /// Emits `update` with the next token and returns that token.
    pub fn issue(&mut self, update: TunnelUpdate, out: &mut Vec<Output>) -> FastpathToken {
        self.last_issued += 1;
        let token = FastpathToken(self.last_issued);
        out.push(Output::Fastpath { token, update });
        token
    }

    /// Emits `output` once `token` is applied (at once if it already is).
    pub fn after(&mut self, token: FastpathToken, output: Output, out: &mut Vec<Output>) {
        if token.0 <= self.applied {
            out.push(output);
        } else {
            self.parked.push_back((token.0, output));
        }
    }

    /// Every update up to `token` is live: releases what waited for them, in order.
    pub fn applied(&mut self, token: FastpathToken, out: &mut Vec<Output>) {
        self.applied = self.applied.max(token.0.min(self.last_issued));
        if self.parked.iter().any(|(t, _)| *t <= self.applied) {
            let applied = self.applied;
            let (ready, waiting): (VecDeque<_>, VecDeque<_>) = self.parked.drain(..).partition(|(t, _)| *t <= applied);
            self.parked = waiting;
            out.extend(ready.into_iter().map(|(_, o)| o));
        }
    }

    /// Update `token` was refused: the outputs that waited for it will never be sent; they are returned.
    pub fn refused(&mut self, token: FastpathToken) -> Vec<Output> {
        let (dropped, kept): (VecDeque<_>, VecDeque<_>) = self.parked.drain(..).partition(|(t, _)| *t == token.0);
        self.parked = kept;
        dropped.into_iter().map(|(_, o)| o).collect()
    }

    /// Outputs still waiting.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Event;

    fn marker(n: u32) -> Output {
        Output::Event(Event::Note(format!("m{n}")))
    }

    #[test]
    fn outputs_wait_for_their_update_and_leave_in_order() {
        let mut gate = FastpathGate::default();
        let mut out = Vec::new();
        let remove = TunnelUpdate::Remove { id: TunnelId(1) };
        let t1 = gate.issue(remove, &mut out);
        let t2 = gate.issue(remove, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        gate.after(t2, marker(2), &mut out);
        gate.after(t1, marker(1), &mut out);
        assert!(out.is_empty());
        gate.applied(t1, &mut out);
        assert_eq!(out, vec![marker(1)]);
        out.clear();
        gate.applied(FastpathToken(99), &mut out);
        assert_eq!(out, vec![marker(2)]);
        out.clear();
        gate.after(t1, marker(3), &mut out);
        assert_eq!(out, vec![marker(3)], "already applied: no wait");
    }

    #[test]
    fn refused_update_drops_what_waited_for_it() {
        let mut gate = FastpathGate::default();
        let mut out = Vec::new();
        let t1 = gate.issue(TunnelUpdate::Remove { id: TunnelId(1) }, &mut out);
        let t2 = gate.issue(TunnelUpdate::Remove { id: TunnelId(2) }, &mut out);
        out.clear();
        gate.after(t1, marker(1), &mut out);
        gate.after(t2, marker(2), &mut out);
        assert_eq!(gate.refused(t1), vec![marker(1)]);
        gate.applied(t2, &mut out);
        assert_eq!(out, vec![marker(2)]);
        assert_eq!(gate.parked(), 0);
    }
}
