//! Settings of both roles, as plain structs the root configuration embeds (`serde`, unknown keys refused).
//! Defaults are the RFC values (RFC 5213 §9, RFC 5846, RFC 5847, RFC 6275; each field names its section);
//! durations are in the unit their name ends with.

use crate::keys::KeyRange;
use crate::net::IpPrefix;
use crate::placement::Placement;
use crate::pools::{Ipv4Pool, Ipv6PrefixPool, PoolError};
use crate::transport::{Framing, UdpPorts};
use crate::wire::Apn;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use thiserror::Error;

/// A configuration value that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error("apns: {0}")]
    Pool(#[from] PoolError),
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
}

/// Heartbeat (RFC 5847) with every peer that has bindings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    pub enabled: bool,
    /// HEARTBEAT_INTERVAL (RFC 5847 §5: default 60 s, SHOULD be 30..3600 s).
    pub interval_s: u32,
    /// MISSING_HEARTBEATS_ALLOWED (default 3): more consecutive unanswered requests declare the peer unreachable.
    pub missing_allowed: u32,
    /// Remove the bindings of a peer that restarted or became unreachable (RFC 5847 §6: "take recovery actions").
    pub cleanup_bindings: bool,
    /// Where the restart counter survives restarts (see [`crate::restart_counter`]).
    pub restart_counter_file: PathBuf,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            enabled: true,
            interval_s: 60,
            missing_allowed: 3,
            cleanup_bindings: true,
            restart_counter_file: PathBuf::from("/var/lib/pmipgw/restart-counter"),
        }
    }
}

impl HeartbeatConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.interval_s == 0 {
            return Err(invalid("heartbeat.interval_s", "must be at least 1 (RFC 5847 suggests 30..3600)"));
        }
        Ok(())
    }
}

/// Home address pools of one APN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnConfig {
    /// Dotted APN, e.g. `internet`.
    pub name: String,
    /// IPv6 prefix /64s are carved from; absent = IPv6 not served on this APN (PBA 172).
    #[serde(default)]
    pub ipv6_pool: Option<IpPrefix>,
    /// IPv4 subnet home addresses come from; absent = IPv4 not served on this APN (PBA 170).
    #[serde(default)]
    pub ipv4_pool: Option<IpPrefix>,
}

/// An APN with its pools built.
#[derive(Debug, Clone)]
pub struct ApnPools {
    pub apn: Apn,
    pub ipv6: Option<Ipv6PrefixPool>,
    pub ipv4: Option<Ipv4Pool>,
}

impl ApnConfig {
    pub fn build(&self, index: usize, placement: &Placement) -> Result<ApnPools, ConfigError> {
        let apn = Apn::from_dotted(&self.name)
            .map_err(|e| invalid(format!("apns[{index}].name"), format!("{:?} is not an APN: {e}", self.name)))?;
        if self.ipv6_pool.is_none() && self.ipv4_pool.is_none() {
            return Err(invalid(format!("apns[{index}]"), "needs an ipv6_pool, an ipv4_pool or both"));
        }
        Ok(ApnPools {
            apn,
            ipv6: self.ipv6_pool.map(|p| Ipv6PrefixPool::placed(p, placement)).transpose()?,
            ipv4: self.ipv4_pool.map(|p| Ipv4Pool::placed(p, placement)).transpose()?,
        })
    }
}

/// Binding Revocation as initiator (RFC 5846 §11 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// InitMINDelayBRIs: first retransmission delay (not below 500 ms).
    pub init_min_delay_ms: u64,
    /// MAX_BRACK_TIMEOUT: the doubling stops here.
    pub max_brack_timeout_ms: u64,
    /// BRIMaxRetriesNumber: retransmissions before cleaning up anyway.
    pub max_retries: u32,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        RevocationConfig { init_min_delay_ms: 1000, max_brack_timeout_ms: 2000, max_retries: 1 }
    }
}

/// LMA settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmaConfig {
    /// MAGs allowed to send PBUs (addresses or prefixes, IPv6 or IPv4); others get PBA 154. Empty = none.
    pub allowed_mags: Vec<IpPrefix>,
    /// NAI realms this LMA serves; an MN-ID of another realm gets PBA 153. Empty = every realm.
    pub served_realms: Vec<String>,
    /// MN-IDs (NAIs) not authorised for network-based mobility: PBA 152.
    pub proxy_registration_disabled: Vec<String>,
    /// The APNs served, with their pools. A PBU for another APN gets PBA 151.
    pub apns: Vec<ApnConfig>,
    /// APN assumed when a PBU carries no Service Selection option; absent = such PBUs get PBA 151.
    pub default_apn: Option<String>,
    /// Uplink GRE keys handed out (unique within the LMA, TS 29.275 §6.3).
    pub uplink_keys: KeyRange,
    /// Longest lifetime granted, seconds (RFC 5213 §5.3.1: may be shorter than requested, never longer).
    pub max_lifetime_s: u32,
    /// MinDelayBeforeBCEDelete (RFC 5213 §9.1).
    pub min_delay_before_bce_delete_ms: u64,
    /// MaxDelayBeforeNewBCEAssign (RFC 5213 §9.1); 0 = do not wait for the previous MAG.
    pub max_delay_before_new_bce_assign_ms: u64,
    /// TimestampValidityWindow (RFC 5213 §9.1).
    pub timestamp_validity_window_ms: u64,
    /// TimestampBasedApproachInUse (RFC 5213 §9.2); false = sequence-number ordering (PBA 135).
    pub timestamp_based: bool,
    /// Send a BRI (RFC 5846 §8.1, trigger 2/3/4) to the previous MAG after a handover.
    pub revoke_previous_mag: bool,
    pub revocation: RevocationConfig,
    pub heartbeat: HeartbeatConfig,
    /// Bindings the LMA holds at most (the fast path's table capacity).
    pub max_bindings: usize,
    /// Which instance and workers the keys and pool shares are for: set by the gateway from its `[cluster]`
    /// section and its workers, not read from `[lma]`.
    #[serde(skip)]
    pub placement: Placement,
}

impl Default for LmaConfig {
    fn default() -> Self {
        LmaConfig {
            allowed_mags: Vec::new(),
            served_realms: Vec::new(),
            proxy_registration_disabled: Vec::new(),
            apns: Vec::new(),
            default_apn: None,
            uplink_keys: KeyRange::default(),
            max_lifetime_s: 7200,
            min_delay_before_bce_delete_ms: 10_000,
            max_delay_before_new_bce_assign_ms: 1500,
            timestamp_validity_window_ms: 300,
            timestamp_based: true,
            revoke_previous_mag: true,
            revocation: RevocationConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            max_bindings: 1 << 20,
            placement: Placement::default(),
        }
    }
}

impl LmaConfig {
    /// Checks everything and builds the APN pools.
    pub fn build_pools(&self) -> Result<Vec<ApnPools>, ConfigError> {
        self.heartbeat.validate()?;
        if self.max_lifetime_s < 4 {
            return Err(invalid("max_lifetime_s", "must be at least 4 (one lifetime unit)"));
        }
        if self.revocation.init_min_delay_ms < 500 {
            return Err(invalid("revocation.init_min_delay_ms", "RFC 5846 §11: not below 500 ms"));
        }
        if self.uplink_keys.first > self.uplink_keys.last || self.uplink_keys.last == 0 {
            return Err(invalid("uplink_keys", "first must not exceed last, and the range must hold a non-zero key"));
        }
        check_placed_keys("uplink_keys", self.uplink_keys, &self.placement)?;
        let pools =
            self.apns.iter().enumerate().map(|(i, a)| a.build(i, &self.placement)).collect::<Result<Vec<_>, _>>()?;
        for (i, a) in pools.iter().enumerate() {
            if pools[..i].iter().any(|b| b.apn == a.apn) {
                return Err(invalid(format!("apns[{i}].name"), format!("APN {} is listed twice", a.apn)));
            }
        }
        if let Some(name) = &self.default_apn {
            let apn = Apn::from_dotted(name).map_err(|e| invalid("default_apn", e.to_string()))?;
            if !pools.iter().any(|p| p.apn == apn) {
                return Err(invalid("default_apn", format!("{name} is not one of the apns")));
            }
        }
        Ok(pools)
    }
}

/// How a MAG frames signalling towards an LMA it knows only by an IPv4 address (TS 29.275 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv4Signalling {
    /// TS 29.275 §6.1 "IPv4": IPv4 protocol 41 carrying IPv6 with IPv4-mapped addresses.
    Ipv4,
    /// TS 29.275 §6.1 "IPv4-UDP": IPv4, UDP 5436, IPv6 with mapped addresses.
    #[default]
    Ipv4Udp,
    /// RFC 5844 §4: IPv4, UDP 5436, the Mobility Header alone (checksum 0).
    Rfc5844Udp,
}

impl Ipv4Signalling {
    /// The framing an initiator uses.
    pub fn framing(self) -> Framing {
        match self {
            Ipv4Signalling::Ipv4 => Framing::Ipv6InIpv4,
            Ipv4Signalling::Ipv4Udp => Framing::Ipv6InIpv4Udp(UdpPorts::CNTL),
            Ipv4Signalling::Rfc5844Udp => Framing::Ipv4Udp(UdpPorts::CNTL),
        }
    }
}

/// MAG settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MagConfig {
    /// Proxy-CoA: this MAG's address towards IPv6 LMAs.
    pub local_ipv6: Option<Ipv6Addr>,
    /// IPv4-Proxy-CoA: this MAG's address towards IPv4 LMAs.
    pub local_ipv4: Option<Ipv4Addr>,
    /// Framing of signalling to IPv4 LMAs.
    pub ipv4_signalling: Ipv4Signalling,
    /// Lifetime requested in PBUs, seconds.
    pub lifetime_s: u32,
    /// Refresh when this share of the granted lifetime has passed (not specified by RFC 5213: implementation choice).
    pub refresh_at_percent: u8,
    /// INITIAL_BINDACK_TIMEOUT (RFC 6275 §12): first retransmission delay.
    pub initial_bindack_timeout_ms: u64,
    /// MAX_BINDACK_TIMEOUT (RFC 6275 §12): the doubling stops here.
    pub max_bindack_timeout_ms: u64,
    /// Retransmissions of a PBU before the procedure is reported failed.
    pub max_retransmissions: u32,
    /// TimestampBasedApproachInUse (RFC 5213 §9.2): put a Timestamp option in PBUs.
    pub timestamp_based: bool,
    /// Downlink GRE keys handed out: unique across all LMAAs (TS 29.275 §6.2 asks for unique per LMAA).
    pub downlink_keys: KeyRange,
    pub heartbeat: HeartbeatConfig,
    /// PDN connections the MAG holds at most.
    pub max_bindings: usize,
    /// Which instance and workers the downlink keys are for: set by the gateway, not read from `[mag]`.
    #[serde(skip)]
    pub placement: Placement,
}

impl Default for MagConfig {
    fn default() -> Self {
        MagConfig {
            local_ipv6: None,
            local_ipv4: None,
            ipv4_signalling: Ipv4Signalling::default(),
            lifetime_s: 3600,
            refresh_at_percent: 80,
            initial_bindack_timeout_ms: 1000,
            max_bindack_timeout_ms: 32_000,
            max_retransmissions: 5,
            timestamp_based: true,
            downlink_keys: KeyRange::default(),
            heartbeat: HeartbeatConfig::default(),
            max_bindings: 1 << 20,
            placement: Placement::default(),
        }
    }
}

impl MagConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.heartbeat.validate()?;
        if self.local_ipv6.is_none() && self.local_ipv4.is_none() {
            return Err(invalid("local_ipv6 / local_ipv4", "the MAG needs at least one address"));
        }
        if !(4..=262_140).contains(&self.lifetime_s) {
            return Err(invalid("lifetime_s", "must be 4..=262140 s (16-bit count of 4 s units)"));
        }
        if !(10..=95).contains(&self.refresh_at_percent) {
            return Err(invalid("refresh_at_percent", "must be 10..=95"));
        }
        if self.initial_bindack_timeout_ms == 0 || self.max_bindack_timeout_ms < self.initial_bindack_timeout_ms {
            return Err(invalid("max_bindack_timeout_ms", "must be at least initial_bindack_timeout_ms (> 0)"));
        }
        if self.downlink_keys.first > self.downlink_keys.last || self.downlink_keys.last == 0 {
            return Err(invalid("downlink_keys", "first must not exceed last, and the range must hold a non-zero key"));
        }
        check_placed_keys("downlink_keys", self.downlink_keys, &self.placement)?;
        Ok(())
    }
}

/// The management socket `pmipctl` talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Unix socket path; created with mode 0600 (its directory 0700 if the gateway creates it).
    pub socket: PathBuf,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { socket: PathBuf::from(crate::api::DEFAULT_SOCKET) }
    }
}

/// Durable binding state (`[state]`, see [`crate::durable`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Keep the bindings across restarts (LMA). Off: every start loses them and increments the restart counter.
    pub durable: bool,
    /// Where the journal lives (`lma.journal`). Default: the directory of `heartbeat.restart_counter_file`
    /// (`/var/lib/pmipgw` unless that was moved), so that each instance keeps its state beside its counter.
    pub dir: Option<PathBuf>,
    /// At most one commit (one `fdatasync`) per this many microseconds. Under a signalling storm more changes
    /// then share a commit — fewer syncs, more PBUs per second — and each message waits up to this much longer
    /// for its commit; a commit after a quiet spell is never delayed. 0 (default): commit as soon as the
    /// previous commit is done.
    pub min_commit_interval_us: u32,
    /// Start without the stored state (`pmipgw --discard-state`; not a config key).
    #[serde(skip)]
    pub discard: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { durable: true, dir: None, min_commit_interval_us: 0, discard: false }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Where `GET /metrics` is served; keep it on a local or management address.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 9464)) }
    }
}

/// A key range must hold keys of this instance's block (`[cluster]`): instances never share a key.
/// What a gateway hands out, as one span of values: its own receive keys, or a pool's share of home addresses.
/// Instances of one cluster must hand out disjoint spans of each kind ([`first_overlap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub kind: SpanKind,
    /// The setting it comes from, e.g. `lma.uplink_keys` or `lma.apns[0].ipv4_pool`.
    pub setting: String,
    pub first: u128,
    pub last: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    UplinkKeys,
    DownlinkKeys,
    Ipv6Prefixes,
    Ipv4Addresses,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            SpanKind::UplinkKeys | SpanKind::DownlinkKeys => {
                let kind = if self.kind == SpanKind::UplinkKeys { "uplink" } else { "downlink" };
                write!(f, "{kind} keys {:#010x}..={:#010x}", self.first, self.last)
            }
            SpanKind::Ipv6Prefixes => {
                write!(f, "home prefixes {}..={} (/64)", Ipv6Addr::from(self.first), Ipv6Addr::from(self.last))
            }
            SpanKind::Ipv4Addresses => {
                write!(
                    f,
                    "IPv4 home addresses {}..={}",
                    Ipv4Addr::from(self.first as u32),
                    Ipv4Addr::from(self.last as u32)
                )
            }
        }?;
        write!(f, " ({})", self.setting)
    }
}

/// The first pair of spans of one kind that two gateways would both hand out.
pub fn first_overlap<'a>(a: &'a [Span], b: &'a [Span]) -> Option<(&'a Span, &'a Span)> {
    a.iter().find_map(|x| b.iter().find(|y| x.kind == y.kind && x.first <= y.last && y.first <= x.last).map(|y| (x, y)))
}

/// The keys of `range` that are this instance's.
fn key_span(kind: SpanKind, setting: &str, range: KeyRange, placement: &Placement) -> Span {
    let (first, last) = placement.instance_keys();
    let first = range.first.max(first);
    let last = range.last.min(last);
    Span { kind, setting: setting.to_owned(), first: first.into(), last: last.into() }
}

impl LmaConfig {
    /// The uplink keys and home addresses this LMA hands out (its instance's share of each).
    pub fn spans(&self) -> Result<Vec<Span>, ConfigError> {
        let mut spans = vec![key_span(SpanKind::UplinkKeys, "lma.uplink_keys", self.uplink_keys, &self.placement)];
        for (i, pools) in self.build_pools()?.iter().enumerate() {
            if let Some(pool) = &pools.ipv6 {
                let (first, last) = pool.share();
                let setting = format!("lma.apns[{i}].ipv6_pool");
                spans.push(Span { kind: SpanKind::Ipv6Prefixes, setting, first: first.into(), last: last.into() });
            }
            if let Some(pool) = &pools.ipv4 {
                let (first, last) = pool.share();
                let setting = format!("lma.apns[{i}].ipv4_pool");
                let (first, last) = (u32::from(first).into(), u32::from(last).into());
                spans.push(Span { kind: SpanKind::Ipv4Addresses, setting, first, last });
            }
        }
        Ok(spans)
    }
}

impl MagConfig {
    /// The downlink keys this MAG hands out (its instance's share).
    pub fn spans(&self) -> Result<Vec<Span>, ConfigError> {
        self.validate()?;
        Ok(vec![key_span(SpanKind::DownlinkKeys, "mag.downlink_keys", self.downlink_keys, &self.placement)])
    }
}

fn check_placed_keys(name: &str, range: KeyRange, placement: &Placement) -> Result<(), ConfigError> {
    let (first, last) = placement.instance_keys();
    if range.last < first.max(1) || range.first > last {
        return Err(invalid(
            name,
            format!(
                "{:#010x}..={:#010x} holds no key of cluster instance {}, whose keys are {first:#010x}..={last:#010x}",
                range.first, range.last, placement.instance
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rfc_values() {
        let l = LmaConfig::default();
        assert_eq!(l.min_delay_before_bce_delete_ms, 10_000);
        assert_eq!(l.max_delay_before_new_bce_assign_ms, 1500);
        assert_eq!(l.timestamp_validity_window_ms, 300);
        assert_eq!(
            l.revocation,
            RevocationConfig { init_min_delay_ms: 1000, max_brack_timeout_ms: 2000, max_retries: 1 }
        );
        assert_eq!((l.heartbeat.interval_s, l.heartbeat.missing_allowed), (60, 3));
        let m = MagConfig::default();
        assert_eq!((m.initial_bindack_timeout_ms, m.max_bindack_timeout_ms, m.refresh_at_percent), (1000, 32_000, 80));
    }

    #[test]
    fn deserialises_and_refuses_unknown_keys() {
        let l: LmaConfig = serde_json::from_str(
            r#"{"allowed_mags":["2001:db8:1::/48","192.0.2.0/24"],
                "apns":[{"name":"internet","ipv6_pool":"2001:db8:100::/48","ipv4_pool":"10.45.0.0/16"}],
                "heartbeat":{"interval_s":30}}"#,
        )
        .unwrap();
        assert_eq!(l.heartbeat.interval_s, 30);
        assert_eq!(l.heartbeat.missing_allowed, 3);
        assert_eq!(l.build_pools().unwrap().len(), 1);
        let err = serde_json::from_str::<LmaConfig>(r#"{"alowed_mags":[]}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `alowed_mags`"), "{err}");
        let err = serde_json::from_str::<LmaConfig>(r#"{"allowed_mags":["10.0.0.1/8"]}"#).unwrap_err().to_string();
        assert!(err.contains("bits set after the prefix length"), "{err}");
        let m: MagConfig =
            serde_json::from_str(r#"{"local_ipv4":"192.0.2.1","ipv4_signalling":"rfc5844-udp"}"#).unwrap();
        assert_eq!(m.ipv4_signalling.framing(), Framing::Ipv4Udp(UdpPorts::CNTL));
        m.validate().unwrap();
        let a: ApiConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(a.socket, PathBuf::from("/run/pmipgw/pmipgw.sock"));
        let mc: MetricsConfig = serde_json::from_str(r#"{"listen":"[::1]:9100"}"#).unwrap();
        assert!(mc.enabled && mc.listen.port() == 9100);
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let mut l = LmaConfig {
            apns: vec![ApnConfig { name: "internet".into(), ipv6_pool: None, ipv4_pool: None }],
            ..Default::default()
        };
        assert!(l.build_pools().unwrap_err().to_string().starts_with("apns[0]:"));
        l.apns[0].ipv4_pool = Some("10.0.0.0/8".parse().unwrap());
        l.default_apn = Some("ims".into());
        assert!(l.build_pools().unwrap_err().to_string().starts_with("default_apn:"));
        let m = MagConfig::default();
        assert!(m.validate().unwrap_err().to_string().contains("at least one address"));
    }

    #[test]
    fn instances_of_one_configuration_hand_out_disjoint_spans_and_a_repeated_instance_overlaps() {
        let instance = |instance| LmaConfig {
            apns: vec![ApnConfig {
                name: "internet".into(),
                ipv6_pool: Some("2001:db8:100::/40".parse().unwrap()),
                ipv4_pool: Some("10.45.0.0/16".parse().unwrap()),
            }],
            placement: Placement { instance, instances: 3, ..Placement::default() },
            ..Default::default()
        };
        let spans: Vec<Vec<Span>> = (0..3).map(|i| instance(i).spans().unwrap()).collect();
        assert_eq!(spans[0].len(), 3, "uplink keys, prefixes, IPv4 addresses");
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            assert_eq!(first_overlap(&spans[i], &spans[j]), None, "instances {i} and {j}");
        }
        let (a, b) = first_overlap(&spans[1], &spans[1]).expect("an instance overlaps itself");
        assert_eq!((a.kind, b.kind), (SpanKind::UplinkKeys, SpanKind::UplinkKeys));
        assert_eq!(a.to_string(), "uplink keys 0x40000000..=0x7fffffff (lma.uplink_keys)");
        // A gateway left out of the cluster's layout (an instance on its own) with the same pools and keys of its
        // own: its addresses overlap even where its keys do not.
        let mut other = instance(2);
        other.placement = Placement { instance: 0, instances: 1, ..Placement::default() };
        other.uplink_keys = KeyRange { first: 1, last: 0x1000 };
        let other = other.spans().unwrap();
        let (a, b) = first_overlap(&spans[1], &other).expect("the pools overlap");
        assert_eq!((a.kind, b.setting.as_str()), (SpanKind::Ipv6Prefixes, "lma.apns[0].ipv6_pool"));
        let m = MagConfig { local_ipv4: Some("192.0.2.1".parse().unwrap()), ..MagConfig::default() };
        assert_eq!(first_overlap(&m.spans().unwrap(), &spans[0]), None, "downlink and uplink keys are apart");
    }
}
