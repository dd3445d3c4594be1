//! The MAG's Binding Update List entry (RFC 5213 §6.1): one per PDN connection.

use crate::api::PdnType;
use crate::fastpath::{FastpathToken, Function, TunnelEndpoints, TunnelSpec};
use crate::session::PdnIdent;
use crate::time::Millis;
use crate::transport::FrameHeader;
use crate::wire::{AccessTechType, HandoffIndicator, PbuRepr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a BULE is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuleState {
    /// Initial PBU sent, no accepting PBA yet.
    Registering,
    /// Binding accepted.
    Active,
    /// Refresh PBU outstanding (the binding still stands).
    Refreshing,
    /// De-registration PBU sent; fast-path entry gone; the key goes on the PBA or after the timeout.
    Deregistering,
}

impl BuleState {
    pub fn name(self) -> &'static str {
        match self {
            BuleState::Registering => "registering",
            BuleState::Active => "active",
            BuleState::Refreshing => "refreshing",
            BuleState::Deregistering => "deregistering",
        }
    }
}

/// Which PBU is outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcedureKind {
    Register,
    Refresh,
    Deregister,
    /// Selective de-registration (RFC 5844 §3.2.3.3): the IPv4 home address (`ipv4`) or else the home network
    /// prefix goes; the binding stays with the other.
    Release {
        ipv4: bool,
    },
}

/// An outstanding PBU and its retransmission state.
#[derive(Debug, Clone)]
pub struct Procedure {
    pub kind: ProcedureKind,
    /// The last PBU sent (retransmissions take a new sequence number and a fresh timestamp).
    pub pbu: PbuRepr,
    /// Sequence numbers of every transmission; a PBA to any of them answers the procedure.
    pub seqs: Vec<u16>,
    pub retransmissions: u32,
    pub timeout_ms: u64,
}

/// One PDN connection at the MAG.
#[derive(Debug, Clone)]
pub struct Bule {
    pub pdn: PdnIdent,
    pub att: AccessTechType,
    pub pdn_type: PdnType,
    /// How to reach the LMA (src = our Proxy-CoA, dst = the LMAA, framing).
    pub path: FrameHeader,
    /// The UE's MAC, sent as MN Link-layer Identifier.
    pub ue_mac: Option<[u8; 6]>,
    pub downlink_key: u32,
    pub uplink_key: Option<u32>,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    /// The prefix length of the IPv4 home network, as the last accepting PBA gave it; refreshes and the
    /// de-registration send it back with the address (RFC 5844 §3.3.1). 32 until a PBA says otherwise.
    pub ipv4_prefix_len: u8,
    pub link_local: Option<Ipv6Addr>,
    /// Handoff Indicator of the initial PBU (1, or 2/3/4 when taking over after a handover).
    pub handoff: HandoffIndicator,
    pub state: BuleState,
    pub lifetime_units: u16,
    pub expires_at: Millis,
    pub installed: bool,
    /// The fast-path entry was first installed by the last update (a refusal then leaves none).
    pub fresh_install: bool,
    pub token: FastpathToken,
    pub procedure: Option<Procedure>,
    /// A management request waiting for this procedure's outcome.
    pub waiting_api: Option<u64>,
    /// The durable state holds this connection (`durable.rs`).
    pub stored: bool,
    /// The sequence number of the PBU the LMA last accepted.
    pub last_seq: u16,
}

impl Bule {
    pub fn lma(&self) -> IpAddr {
        self.path.dst
    }

    /// The fast-path entry, if there is anything to forward with: uplink needs the uplink key, downlink the UE's
    /// addresses; both need at least one UE address to classify by.
    pub fn spec(&self) -> Option<TunnelSpec> {
        if self.hnp.is_none() && self.ipv4.is_none() {
            return None;
        }
        Some(TunnelSpec {
            function: Function::Mag,
            endpoints: TunnelEndpoints::new(self.path.src, self.path.dst)?,
            uplink_key: self.uplink_key,
            downlink_key: Some(self.downlink_key),
            ue_ipv4: self.ipv4,
            ue_ipv6_prefix: self.hnp,
            ue_mac: self.ue_mac,
        })
    }
}
