//! Requests and replies of the management API (one JSON object per line each way).

use crate::fastpath::Function;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// PDN type of a MAG-created PDN connection: which home addresses it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PdnType {
    Ipv4,
    Ipv6,
    Ipv4v6,
}

impl PdnType {
    pub fn wants_ipv4(self) -> bool {
        matches!(self, PdnType::Ipv4 | PdnType::Ipv4v6)
    }

    pub fn wants_ipv6(self) -> bool {
        matches!(self, PdnType::Ipv6 | PdnType::Ipv4v6)
    }
}

/// MAG: create a PDN connection (TS 29.275 §5.1.1), or take one over after a handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdnCreate {
    /// MN-ID as an NAI, e.g. `001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org`.
    pub mn_id: String,
    /// Dotted APN.
    pub apn: String,
    /// Access Technology Type (RFC 5213 §8.5 registry; 8 = E-UTRAN).
    #[serde(default = "default_att")]
    pub att: u8,
    pub pdn_type: PdnType,
    /// The LMA (LMAA, IPv6, or IPv4-LMAA).
    pub lma: IpAddr,
    /// The UE's MAC, sent as the MN Link-layer Identifier.
    #[serde(default)]
    pub ue_mac: Option<String>,
    /// Uplink GRE key already known from the MME (TS 29.275 §6.2): uplink encapsulation is installed at once.
    #[serde(default)]
    pub uplink_key: Option<u32>,
    /// 3GPP PDN Connection ID, for several PDN connections to one APN.
    #[serde(default)]
    pub pdn_connection_id: Option<u8>,
    /// Handoff Indicator to send: 1 (new attachment, default), or 2 / 3 / 4 when taking over after a handover.
    #[serde(default)]
    pub handoff: Option<u8>,
    /// Home network prefix already assigned (handover), instead of asking with `::/0`.
    #[serde(default)]
    pub home_prefix: Option<Ipv6Addr>,
    /// IPv4 home address already assigned (handover), instead of asking with 0.0.0.0.
    #[serde(default)]
    pub ipv4_home_address: Option<Ipv4Addr>,
    /// Reply once the PBA arrived (default) rather than as soon as the PBU is sent.
    #[serde(default = "yes")]
    pub wait: bool,
}

impl PdnCreate {
    /// A new attachment (HI 1) over E-UTRAN that waits for the PBA, nothing assigned beforehand: what
    /// `pmipctl pdn create` sends without options.
    pub fn new(mn_id: impl Into<String>, apn: impl Into<String>, pdn_type: PdnType, lma: IpAddr) -> Self {
        PdnCreate {
            mn_id: mn_id.into(),
            apn: apn.into(),
            att: default_att(),
            pdn_type,
            lma,
            ue_mac: None,
            uplink_key: None,
            pdn_connection_id: None,
            handoff: None,
            home_prefix: None,
            ipv4_home_address: None,
            wait: true,
        }
    }
}

fn default_att() -> u8 {
    8
}

fn yes() -> bool {
    true
}

/// Which binding(s) a command is about: by MN-ID (optionally narrowed by APN and PDN Connection ID) or by key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub mn_id: Option<String>,
    #[serde(default)]
    pub apn: Option<String>,
    #[serde(default)]
    pub pdn_connection_id: Option<u8>,
    /// A GRE key of the binding (uplink or downlink).
    #[serde(default)]
    pub key: Option<u32>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.mn_id.is_none() && self.key.is_none() && self.apn.is_none() && self.pdn_connection_id.is_none()
    }
}

/// A management request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// List bindings, or those a selector names.
    Bindings {
        #[serde(default, flatten)]
        selector: Selector,
    },
    /// Counters: signalling by type and status, data plane (ports, workers, drops) when the gateway has it.
    Stats,
    /// Heartbeat state of every peer.
    Peers,
    /// The gateway's neighbour caches (ARP / NDP), per port. Answered by the gateway, not the procedures.
    Neighbours,
    /// Each worker's traffic, the keys it owns and how busy it is, and how each port steers tunnels to the
    /// workers. Answered by the gateway.
    Workers,
    /// The durable binding state: the journal, what the last start restored, commit figures. Answered by the
    /// gateway.
    State,
    /// MAG: create a PDN connection.
    PdnCreate(PdnCreate),
    /// MAG: delete a PDN connection (de-registration PBU), or with `only`, release just its IPv4 home address or
    /// its home network prefix and keep the rest (selective de-registration, RFC 5844 §3.2.3.3).
    PdnDelete {
        mn_id: String,
        apn: String,
        #[serde(default)]
        pdn_connection_id: Option<u8>,
        #[serde(default)]
        only: Option<PdnType>,
    },
    /// LMA: revoke bindings (RFC 5846 BRI to their MAG).
    BindingRevoke {
        #[serde(flatten)]
        selector: Selector,
        /// Revocation trigger, default 1 (administrative reason).
        #[serde(default)]
        trigger: Option<u8>,
    },
    /// LMA: reserve an uplink key value for one PDN connection (TS 29.275 §6.3).
    KeysReserve {
        key: u32,
        mn_id: String,
        apn: String,
        #[serde(default)]
        pdn_connection_id: Option<u8>,
    },
    /// LMA: cancel a reservation.
    KeysRelease { key: u32 },
    /// LMA: list the reservations.
    Keys,
}

/// Packet and byte counters of one binding, from the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrafficCounters {
    pub uplink_packets: u64,
    pub uplink_bytes: u64,
    pub downlink_packets: u64,
    pub downlink_bytes: u64,
}

/// One BCE (LMA) or BULE (MAG) as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingView {
    pub id: u32,
    /// Shown as `role` (the API's and the metrics' word for it).
    #[serde(rename = "role")]
    pub function: Function,
    /// Procedure state, e.g. `active`, `registering`, `refreshing`, `deregistering`, `deleting`, `revoking`.
    pub state: String,
    pub mn_id: String,
    pub apn: String,
    pub pdn_connection_id: Option<u8>,
    /// The other end: the Proxy-CoA on an LMA, the LMAA on a MAG.
    pub peer: IpAddr,
    /// Our end of the tunnel.
    pub local: Option<IpAddr>,
    /// Signalling framing used with the peer.
    pub framing: String,
    pub uplink_key: Option<u32>,
    pub downlink_key: Option<u32>,
    pub home_prefix: Option<String>,
    pub ipv4_home_address: Option<Ipv4Addr>,
    /// Access Technology Type.
    pub att: u8,
    /// Granted lifetime, seconds.
    pub lifetime_s: u32,
    /// Seconds until the binding expires (or is deleted), if it is counting down.
    pub expires_in_s: Option<u64>,
    /// Fast-path counters, filled in by the gateway when it has them.
    #[serde(default)]
    pub counters: Option<TrafficCounters>,
}

/// One row of the signalling counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCount {
    /// `rx` or `tx`.
    pub direction: String,
    /// `pbu`, `pba`, `bri`, `bra`, `heartbeat-request`, `heartbeat-response`, `binding-error`, `unknown`.
    pub message: String,
    /// Status name for PBA and BRA (e.g. `ACCEPTED`, `MISSING_MN_IDENTIFIER_OPTION`).
    pub status: Option<String>,
    pub count: u64,
}

/// Counters of one port, from the fast path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortStats {
    pub name: String,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub drops: u64,
}

/// Counters of one worker, from the fast path.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    pub id: u32,
    pub lcore: Option<u32>,
    pub packets: u64,
    pub drops: u64,
    /// Nanoseconds of poll rounds that moved packets, since the worker started: its load.
    #[serde(default)]
    pub busy_ns: u64,
}

/// Data-plane part of [`Stats`], filled in by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DataplaneStats {
    pub ports: Vec<PortStats>,
    pub workers: Vec<WorkerStats>,
    /// Drops by reason name.
    pub drops: BTreeMap<String, u64>,
    /// What the workers did with the packets they received, over all workers.
    #[serde(default)]
    pub totals: FastpathTotals,
}

/// The fast path's outcomes, summed over workers. Every packet a worker receives is encapsulated, decapsulated,
/// punted or dropped (an ICMP error sent back counts its packet's drop reason too), or it is an outer fragment
/// that ends in a rebuilt packet (`fragments_reassembled`), under a `reassembly-*` drop reason, or still waits
/// (`reassembly_held`); each rebuilt packet then has an outcome of its own. A packet cut into fragments counts
/// each piece as encapsulated or decapsulated. So `rx_packets + reassembled + fragments - fragmented` =
/// `encapsulated + decapsulated + punted + dropped + fragments_reassembled + reassembly_held`, less the drops
/// that come after an outcome: `tx-failed`, `punt-queue-full`, `signalling-rate-limited` (punted, then held back
/// by its sender's share) and `fragment-failed` (a packet whose pieces were counted but found no buffer). The bindings' own counters, plus `retired` (those of
/// removed bindings), add up to `encapsulated` and `decapsulated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FastpathTotals {
    pub rx_packets: u64,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub punted: u64,
    pub dropped: u64,
    pub icmp_errors_sent: u64,
    /// Packets cut into IPv4 fragments, and how many fragments that made.
    #[serde(default)]
    pub fragmented: u64,
    #[serde(default)]
    pub fragments: u64,
    /// Packets rebuilt from outer fragments, the fragments they took, and the fragments waiting.
    #[serde(default)]
    pub reassembled: u64,
    #[serde(default)]
    pub fragments_reassembled: u64,
    #[serde(default)]
    pub reassembly_held: u64,
    pub retired: TrafficCounters,
}

/// Everything `stats` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Shown as `role` (the API's and the metrics' word for it).
    #[serde(rename = "role")]
    pub function: Function,
    pub bindings: u64,
    /// Keys in use (uplink on an LMA, downlink over all LMAAs on a MAG).
    pub keys_in_use: u64,
    pub signalling: Vec<MessageCount>,
    /// Other control-plane counters by name (retransmissions, ignored messages, heartbeat misses, ...).
    pub events: BTreeMap<String, u64>,
    #[serde(default)]
    pub dataplane: Option<DataplaneStats>,
    /// What the gateway holds right now, by name (bindings, keys, addresses, timers, table entries, mbufs):
    /// gauges that return to their starting point when the bindings are gone, which is how a leak shows.
    #[serde(default)]
    pub state: BTreeMap<String, u64>,
    /// How long binding exchanges take, filled in by the gateway (the procedures have no clock of that grain).
    #[serde(default)]
    pub signalling_latency: Option<LatencyHistogram>,
}

/// Durations of one kind of exchange in buckets, as Prometheus histograms hold them. On an LMA: a PBU's arrival
/// to its PBA leaving (the wait for every worker to install the tunnel included); on a MAG: a PBU's first
/// transmission to the PBA that answers it (retransmissions included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Upper bounds of the buckets in microseconds, ascending; one more bucket, unbounded, follows them.
    pub bounds_us: Vec<u64>,
    /// Observations per bucket (not cumulative): one more entry than `bounds_us`.
    pub counts: Vec<u64>,
    pub sum_us: u64,
}

impl Default for LatencyHistogram {
    /// Buckets from 50 µs (an LMA answering from memory) to 10 s (a MAG whose PBU needed retransmissions).
    fn default() -> Self {
        let bounds_us = vec![
            50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
            2_500_000, 5_000_000, 10_000_000,
        ];
        let counts = vec![0; bounds_us.len() + 1];
        LatencyHistogram { bounds_us, counts, sum_us: 0 }
    }
}

impl LatencyHistogram {
    pub fn observe(&mut self, us: u64) {
        let bucket = self.bounds_us.partition_point(|&bound| bound < us);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound of the bucket holding the `q` quantile (`None` when empty, or in the unbounded bucket).
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let rank = (q * self.count() as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank && n != 0 {
                return self.bounds_us.get(i).copied();
            }
        }
        None
    }
}

/// [`Stats::state`] from (name, count) pairs.
pub fn state_gauges<const N: usize>(items: [(&str, usize); N]) -> BTreeMap<String, u64> {
    items.into_iter().map(|(name, value)| (name.to_owned(), value as u64)).collect()
}

/// Heartbeat state of one peer (RFC 5847).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub address: IpAddr,
    pub framing: String,
    /// Bindings with this peer.
    pub bindings: u64,
    /// `up`, `unreachable`, `unsupported` (answered with Binding Error), `idle` (no bindings, no heartbeats).
    pub state: String,
    /// Consecutive unanswered requests.
    pub missing: u32,
    /// Last Restart Counter the peer reported.
    pub restart_counter: Option<u32>,
    pub requests_sent: u64,
    pub responses_received: u64,
    /// Signalling from the peer the workers passed to the control thread, and what they dropped beyond its share
    /// (`gateway.signalling_rate_per_peer`).
    #[serde(default)]
    pub signalling_admitted: u64,
    #[serde(default)]
    pub signalling_rate_limited: u64,
}

/// One worker of the fast path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerView {
    pub worker: u32,
    /// Packets received and sent over all ports.
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub punted: u64,
    pub dropped: u64,
    /// Receive keys in use whose worker field names this worker (the bindings a key-steering NIC sends it).
    pub keys_owned: u64,
    /// Share of the time spent on bursts with packets, in whole percent, since the previous `workers` query (or
    /// the start).
    pub busy_percent: u32,
}

/// How one port's received tunnels reach the workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteeringView {
    pub port: String,
    /// `none`, `gre-key (N rte_flow rules)`, or `rss (...)` with the device's reason for refusing the rules.
    pub steering: String,
}

/// One neighbour cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourView {
    pub port: String,
    pub address: IpAddr,
    /// `None` while being resolved or after it stopped answering.
    pub mac: Option<String>,
    /// `static`, `incomplete`, `reachable`, `stale`, `probe` or `failed` (RFC 4861 §7.3.2 states).
    pub state: String,
    /// Bindings whose traffic goes to this neighbour.
    pub bindings: u64,
}

/// A key reservation (TS 29.275 §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationView {
    pub key: u32,
    pub mn_id: String,
    pub apn: String,
    pub pdn_connection_id: Option<u8>,
    /// A binding uses the key.
    pub bound: bool,
}

/// A management reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    Bindings {
        bindings: Vec<BindingView>,
    },
    Stats(Stats),
    Peers {
        peers: Vec<PeerView>,
        restart_counter: u32,
    },
    /// A PDN connection (after `pdn create`).
    Pdn {
        binding: BindingView,
    },
    Keys {
        reservations: Vec<ReservationView>,
    },
    Neighbours {
        neighbours: Vec<NeighbourView>,
    },
    Workers {
        workers: Vec<WorkerView>,
        steering: Vec<SteeringView>,
    },
    State(StateView),
    /// A command that has nothing to show but its outcome.
    Done {
        message: String,
    },
    /// The request failed; `error` says why.
    Error {
        error: String,
    },
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Response::Error { error: message.into() }
    }

    pub fn done(message: impl Into<String>) -> Self {
        Response::Done { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_a_command_tag_and_refuse_unknown_fields() {
        let r: Request = serde_json::from_str(r#"{"command":"bindings","mn_id":"a@b"}"#).unwrap();
        assert_eq!(r, Request::Bindings { selector: Selector { mn_id: Some("a@b".into()), ..Default::default() } });
        let r: Request = serde_json::from_str(r#"{"command":"stats"}"#).unwrap();
        assert_eq!(r, Request::Stats);
        let r: Request = serde_json::from_str(
            r#"{"command":"pdn-create","mn_id":"a@b","apn":"internet","pdn_type":"ipv4v6","lma":"2001:db8:2::1"}"#,
        )
        .unwrap();
        let Request::PdnCreate(p) = r else { panic!("{r:?}") };
        assert_eq!((p.att, p.wait, p.pdn_type), (8, true, PdnType::Ipv4v6));
        let err = serde_json::from_str::<Request>(r#"{"command":"keys-release","key":1,"colour":"red"}"#).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = serde_json::from_str::<Request>(r#"{"command":"reboot"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `reboot`"), "{err}");
    }

    #[test]
    fn responses_round_trip() {
        let r = Response::error("no such binding");
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"result":"error","error":"no such binding"}"#);
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), r);
    }
}

/// `pmipctl state`: the durable binding state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateView {
    /// False: this gateway keeps no binding state across restarts (`[state] durable = false`).
    pub durable: bool,
    #[serde(default)]
    pub journal: crate::durable::journal::JournalStats,
    #[serde(default)]
    pub restored: crate::durable::RestoreReport,
    /// How long the gateway has been up, ms (commits per second are `journal.commits` over this).
    #[serde(default)]
    pub uptime_ms: u64,
    /// Messages waiting for their changes to be durable now.
    #[serde(default)]
    pub messages_held: u64,
    pub restart_counter: u32,
}
