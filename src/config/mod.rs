//! The gateway's TOML configuration: the schema with its defaults, parsing, and what it turns into (static
//! bindings, placement, the procedures' configs); every check beyond the syntax is in `validate.rs`, the static bindings in `bindings.rs`.
//!
//! Every error names the key it is about and the problem, in one line, because an operator reading a failed
//! start at 3 a.m. should not have to guess which of forty lines is wrong.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use controlplane::config::{LmaConfig, MagConfig, Span};
use controlplane::placement::Placement;
use dataplane::binding::BindingId;
use dataplane::binding::{Binding, Function, TunnelEndpoints};
use dataplane::idle::IdlePolicy;
use dataplane::pipeline::Roles;
use dataplane::tables::{TableConfig, UpdateSender};
use dataplane::wire::ethernet::MacAddr;
use serde::Deserialize;

mod bindings;
mod validate;

pub use bindings::StaticTables;

pub use validate::check_cluster;
use validate::{key_of, procedures_error};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub dpdk: DpdkSection,
    #[serde(default)]
    pub run: RunSection,
    #[serde(rename = "port", default)]
    pub ports: Vec<PortSection>,
    #[serde(default)]
    pub gateway: GatewaySection,
    /// Static bindings written as `[[binding]]` tables; installed before the first packet is read, then those of
    /// `gateway.bindings_file` (see [`Config::static_tables`]).
    #[serde(rename = "binding", default)]
    pub bindings: Vec<BindingSection>,
    /// What [`Config::load`] built: the tables with every static binding installed.
    #[serde(skip)]
    pub static_tables: Option<StaticTables>,
    /// `[lma]`: run the LMA procedures (PBU/PBA, revocation, heartbeat) on this gateway.
    pub lma: Option<controlplane::config::LmaConfig>,
    /// `[mag]`: run the MAG procedures on this gateway.
    pub mag: Option<controlplane::config::MagConfig>,
    /// `[api]`: the management socket `pmipctl` talks to (with `[lma]` or `[mag]`).
    #[serde(default)]
    pub api: controlplane::config::ApiConfig,
    /// `[metrics]`: the Prometheus endpoint (with `[lma]` or `[mag]`).
    #[serde(default)]
    pub metrics: controlplane::config::MetricsConfig,
    /// `[state]`: durable binding state (with `[lma]` or `[mag]`).
    #[serde(default)]
    pub state: controlplane::config::StateConfig,
    /// `[cluster]`: this gateway's place among the instances of a cluster, and the worker field of its keys.
    #[serde(default)]
    pub cluster: ClusterSection,
}

/// `[cluster]` (see `controlplane::placement` for the key layout).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This gateway's number among the instances of its cluster, `0..instances`.
    #[serde(default)]
    pub instance: u32,
    /// Instances in the cluster: each takes its own block of keys and its own share of every pool.
    #[serde(default = "default_instances")]
    pub instances: u32,
    /// Low bits of a receive key naming the worker that owns its binding; default: as many as the workers need.
    /// Fix it to keep the key layout when the number of workers changes.
    pub worker_bits: Option<u8>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection { instance: 0, instances: default_instances(), worker_bits: None }
    }
}

fn default_instances() -> u32 {
    1
}

/// How long an install waits for room in a worker's update queue.
const UPDATE_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `[dpdk]`: how EAL starts and how much packet memory it gets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpdkSection {
    /// EAL lcores: a `-l` list (`0-3`, first = main lcore), or `--lcores` syntax when it has `@` or `(`
    /// (`0@(0-1),1@(0-1)`: lcores floating over a CPU set, for shared cores).
    #[serde(default = "default_lcores")]
    pub lcores: String,
    /// Extra EAL arguments, e.g. `["--no-huge", "--no-pci", "--file-prefix", "gw1"]`.
    #[serde(default)]
    pub eal_args: Vec<String>,
    /// Packet buffers in the pool shared by all ports (2^n - 1 is most memory-efficient).
    #[serde(default = "default_mempool_size")]
    pub mempool_size: u32,
    /// Per-lcore mempool cache.
    #[serde(default = "default_mempool_cache")]
    pub mempool_cache: u32,
    /// Bytes of frame each packet buffer holds (behind its 128-byte headroom): the largest frame a port takes in
    /// one buffer, and the largest packet reassembly can rebuild. Larger for jumbo frames, or for `net_af_packet`
    /// ports, whose kernel socket hands over IP fragments already put together (up to 64 KiB).
    #[serde(default = "default_mbuf_size")]
    pub mbuf_size: u16,
    #[serde(default = "default_descriptors")]
    pub rx_descriptors: u16,
    #[serde(default = "default_descriptors")]
    pub tx_descriptors: u16,
}

/// `[run]`: the process's behaviour while it runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Exit cleanly once no packet has arrived for this many milliseconds (pcap-driven runs and demos).
    pub exit_when_idle_ms: Option<u64>,
    /// What poll loops do when there is no traffic.
    #[serde(default)]
    pub idle: IdleSection,
    /// `tracing` filter, e.g. `info` or `pmipgw=debug` (the `RUST_LOG` environment variable wins).
    pub log_level: Option<String>,
}

/// `[run.idle]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdleSection {
    /// `spin` (dedicated cores) or `sleep` (shared cores).
    #[serde(default = "default_idle_policy")]
    pub policy: IdlePolicyName,
    /// With `sleep`: consecutive empty polls before sleeping.
    #[serde(default = "default_empty_polls")]
    pub empty_polls: u32,
    /// With `sleep`: how long to sleep, in microseconds.
    #[serde(default = "default_sleep_us")]
    pub sleep_us: u64,
}

impl Default for IdleSection {
    fn default() -> Self {
        IdleSection { policy: default_idle_policy(), empty_polls: default_empty_polls(), sleep_us: default_sleep_us() }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IdlePolicyName {
    Spin,
    Sleep,
}

/// `[[port]]`: one DPDK device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSection {
    /// The gateway's name for the port, used by other keys and in counters.
    pub name: String,
    /// DPDK device: a virtual device (`net_pcap0`, `net_memif0`, ...) or a PCI address (`0000:3b:00.0`).
    pub device: String,
    /// Device arguments, e.g. `rx_pcap=in.pcap,tx_pcap=out.pcap`.
    #[serde(default)]
    pub devargs: String,
    /// L3 MTU; the device default when absent.
    pub mtu: Option<u16>,
    /// A fixed next hop for every frame sent out of this port: a static entry that wins over anything resolved.
    /// Needed on ports with roles when no `[lma]` / `[mag]` section runs neighbour resolution.
    #[serde(default, deserialize_with = "mac_address")]
    pub next_hop_mac: Option<MacAddr>,
    /// The port's default next hops (routers), at most one IPv4 and one IPv6, resolved by ARP / NDP: where
    /// decapsulated SGi traffic goes, and on `core` where tunnel peers are reached when they are not on-link.
    #[serde(default)]
    pub next_hop: Vec<IpAddr>,
    /// The gateway's own addresses on this port (e.g. the UEs' default gateway on `access`, the SGi address),
    /// answered by ARP / NDP and used as the source of solicitations. `core` also answers for its LMAA /
    /// Proxy-CoA without listing them.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Source of the ICMP errors (Time Exceeded, Fragmentation Needed, Packet Too Big) sent back out of this port,
    /// at most one per family; by default the first address of each family in `addresses`.
    #[serde(default)]
    pub icmp_source: Vec<IpAddr>,
    /// On `core`: the DSCP of outer headers, `"copy"` (the inner packet's, RFC 2983's uniform model; the
    /// default) or a fixed value 0–63 (the pipe model).
    #[serde(default)]
    pub outer_dscp: OuterDscpSetting,
    /// Static neighbour entries (IP → MAC); they win over what is learned.
    #[serde(default, rename = "neighbor")]
    pub neighbors: Vec<StaticNeighbor>,
    /// What the port faces (fast path): any of "core", "access", "sgi". A role may be on one port only.
    #[serde(default)]
    pub roles: Vec<RoleName>,
    /// L2 forwarding (Foundation processing, a plumbing check): the port that frames received here are sent out
    /// of. Not combinable with roles.
    pub forward_to: Option<String>,
}

/// `port.outer_dscp`: `"copy"` or a number.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OuterDscpSetting {
    Fixed(u8),
    Named(String),
}

impl Default for OuterDscpSetting {
    fn default() -> Self {
        OuterDscpSetting::Named("copy".into())
    }
}

impl OuterDscpSetting {
    /// The pipeline's form, or what is wrong with the setting.
    pub fn to_pipeline(&self) -> Result<dataplane::pipeline::OuterDscp, String> {
        match self {
            OuterDscpSetting::Fixed(dscp @ 0..=63) => Ok(dataplane::pipeline::OuterDscp::Fixed(*dscp)),
            OuterDscpSetting::Fixed(dscp) => Err(format!("{dscp} is outside 0..=63")),
            OuterDscpSetting::Named(name) if name == "copy" => Ok(dataplane::pipeline::OuterDscp::Copy),
            OuterDscpSetting::Named(name) => Err(format!("{name:?}: use \"copy\" or a DSCP value 0-63")),
        }
    }
}

/// `[[port.neighbor]]`: one static neighbour entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticNeighbor {
    pub ip: IpAddr,
    #[serde(deserialize_with = "required_mac_address")]
    pub mac: MacAddr,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Core,
    Access,
    Sgi,
}

/// `[gateway]`: the fast path's own addresses and knobs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// This gateway's LMA addresses (LMAA, IPv4-LMAA): uplink GRE is accepted for these.
    #[serde(default)]
    pub lmaa: Vec<IpAddr>,
    /// This gateway's MAG addresses (Proxy-CoA, IPv4-Proxy-CoA): downlink GRE is accepted for these.
    #[serde(default)]
    pub proxy_coa: Vec<IpAddr>,
    /// TTL / hop limit of the outer headers the gateway writes.
    #[serde(default = "default_outer_hop_limit")]
    pub outer_hop_limit: u8,
    /// LMA uplink: drop packets whose inner source is not the binding's UE address or inside its prefix.
    #[serde(default = "default_true")]
    pub inner_source_check: bool,
    /// ICMP errors each worker may send per second (in bursts of up to a tenth of that) about packets that cannot
    /// go into their tunnel; 0 sends none.
    #[serde(default = "default_icmp_errors_per_second")]
    pub icmp_errors_per_second: u32,
    /// Bindings each worker's table holds (memory is reserved at start; the tables never grow).
    #[serde(default = "default_table_capacity")]
    pub table_capacity: usize,
    /// Static bindings in bulk: a text file with one binding per line,
    /// `function,local,remote,uplink_key,downlink_key,ue_ipv4,ue_ipv6_prefix` (empty fields for none; `#`
    /// comments). Relative to the config file's directory. Read as a stream: a million lines load in about a
    /// second, where the same in `[[binding]]` tables takes the TOML parser many seconds and gigabytes.
    #[serde(default)]
    pub bindings_file: Option<PathBuf>,
    /// Table updates that may wait for one worker.
    #[serde(default = "default_update_queue_depth")]
    pub update_queue_depth: usize,
    /// Packets that may wait for the control thread; beyond that they are dropped and counted.
    #[serde(default = "default_punt_queue_depth")]
    pub punt_queue_depth: usize,
    /// Outer fragments of tunnelled packets: datagrams each worker reassembles at once (its table is reserved
    /// at start), and how long one may take to complete before its fragments are dropped.
    #[serde(default = "default_reassembly_entries")]
    pub reassembly_entries: usize,
    #[serde(default = "default_reassembly_timeout_ms")]
    pub reassembly_timeout_ms: u64,
    /// Signalling each peer may send to the control thread, per second and per worker, in bursts of up to
    /// `signalling_burst_per_peer`; the rest is dropped in the worker and counted for that peer, so a storm from
    /// one peer never crowds another's PBUs out of the punt queue. 0: no limit.
    #[serde(default = "default_signalling_rate_per_peer")]
    pub signalling_rate_per_peer: u32,
    #[serde(default = "default_signalling_burst_per_peer")]
    pub signalling_burst_per_peer: u32,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            lmaa: Vec::new(),
            proxy_coa: Vec::new(),
            outer_hop_limit: default_outer_hop_limit(),
            inner_source_check: true,
            icmp_errors_per_second: default_icmp_errors_per_second(),
            table_capacity: default_table_capacity(),
            bindings_file: None,
            update_queue_depth: default_update_queue_depth(),
            punt_queue_depth: default_punt_queue_depth(),
            reassembly_entries: default_reassembly_entries(),
            reassembly_timeout_ms: default_reassembly_timeout_ms(),
            signalling_rate_per_peer: default_signalling_rate_per_peer(),
            signalling_burst_per_peer: default_signalling_burst_per_peer(),
        }
    }
}

/// `[[binding]]`: one PDN connection's tunnel, provisioned by hand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSection {
    /// Which end this gateway is: "lma" or "mag".
    pub function: FunctionName,
    /// This gateway's tunnel address: one of gateway.lmaa (LMA) or gateway.proxy_coa (MAG).
    pub local: IpAddr,
    /// The peer's tunnel address (the MAG's Proxy-CoA, or the LMAA), of the same family.
    pub remote: IpAddr,
    pub uplink_key: Option<u32>,
    pub downlink_key: Option<u32>,
    pub ue_ipv4: Option<Ipv4Addr>,
    /// The UE's home network prefix, written `2001:db8:aaaa:1::/64`.
    pub ue_ipv6_prefix: Option<Prefix64>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FunctionName {
    Lma,
    Mag,
}

/// An IPv6 /64 prefix written `2001:db8:aaaa:1::/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix64(pub Ipv6Addr);

impl<'de> Deserialize<'de> for Prefix64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Prefix64 {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (address, length) =
            text.split_once('/').ok_or_else(|| format!("{text:?} is not a prefix like 2001:db8:aaaa:1::/64"))?;
        if length != "64" {
            return Err(format!("{text:?}: UE home network prefixes are /64 (RFC 5213 per-MN prefix)"));
        }
        let address: Ipv6Addr = address.parse().map_err(|_| format!("{text:?}: {address:?} is not an IPv6 address"))?;
        if u128::from(address) as u64 != 0 {
            return Err(format!("{text:?} has bits set beyond /64"));
        }
        Ok(Prefix64(address))
    }
}

impl PortSection {
    /// The string EAL probes: device name plus its arguments.
    pub fn probe_args(&self) -> String {
        if self.devargs.is_empty() {
            self.device.clone()
        } else {
            format!("{},{}", self.device, self.devargs)
        }
    }
}

/// Reads a MAC address written `02:00:00:00:00:01` (the data plane's parser, with the config's wording).
fn mac_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<MacAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a MAC address like 02:00:00:00:00:01")))
}

fn required_mac_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
    mac_address(d)?.ok_or_else(|| serde::de::Error::custom("a MAC address is needed"))
}

fn default_lcores() -> String {
    "0".into()
}
fn default_mempool_size() -> u32 {
    8191
}
fn default_mbuf_size() -> u16 {
    2048
}
fn default_mempool_cache() -> u32 {
    256
}
fn default_descriptors() -> u16 {
    1024
}
fn default_idle_policy() -> IdlePolicyName {
    IdlePolicyName::Spin
}
fn default_empty_polls() -> u32 {
    64
}
fn default_sleep_us() -> u64 {
    100
}
fn default_true() -> bool {
    true
}
fn default_outer_hop_limit() -> u8 {
    64
}
fn default_icmp_errors_per_second() -> u32 {
    dataplane::pipeline::DEFAULT_ICMP_ERRORS_PER_SECOND
}
fn default_table_capacity() -> usize {
    1 << 20
}
fn default_update_queue_depth() -> usize {
    4096
}
fn default_reassembly_entries() -> usize {
    dataplane::reassembly::ReassemblyConfig::default().entries
}
fn default_reassembly_timeout_ms() -> u64 {
    dataplane::reassembly::ReassemblyConfig::default().timeout_ns / 1_000_000
}
fn default_signalling_rate_per_peer() -> u32 {
    dataplane::admission::AdmissionConfig::default().rate
}
fn default_signalling_burst_per_peer() -> u32 {
    dataplane::admission::AdmissionConfig::default().burst
}
fn default_punt_queue_depth() -> usize {
    1024
}

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: cannot read it: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path}: key '{key}': {problem}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid { path: PathBuf, key: String, problem: String, line: Option<usize> },
}

impl Config {
    /// Reads and checks a config file, static bindings included: they are installed in `static_tables`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut config = Self::read(path)?;
        config.static_tables = config.static_tables(path)?;
        Ok(config)
    }

    /// Reads and checks a config file but for its static bindings, which [`Config::static_tables`] installs (the
    /// gateway does that while EAL starts).
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let config = Self::parse(&text, path)?;
        drop(text);
        config.validate().map_err(|(key, problem)| ConfigError::Invalid {
            path: path.into(),
            key,
            problem,
            line: None,
        })?;
        Ok(config)
    }

    fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let at = err.path().to_string();
            let inner = err.into_inner();
            let line = inner
                .span()
                .map(|span| text.as_bytes()[..span.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1);
            let message = inner.message().trim().to_owned();
            let key = key_of(&at, &message);
            ConfigError::Invalid { path: path.into(), key, problem: message.replace('\n', " "), line }
        })
    }

    /// The port of each role, by [`RoleName`] (the first, if a config names one twice: `validate` refuses that).
    fn role_ports(&self) -> [Option<usize>; 3] {
        let mut role_ports = [None; 3];
        for (i, port) in self.ports.iter().enumerate() {
            for role in &port.roles {
                role_ports[*role as usize].get_or_insert(i);
            }
        }
        role_ports
    }

    /// The sizes of the fast path's tables.
    pub fn table_config(&self) -> TableConfig {
        TableConfig {
            capacity: self.gateway.table_capacity,
            queue_depth: self.gateway.update_queue_depth,
            queue_wait: UPDATE_QUEUE_WAIT,
        }
    }

    /// The fast path runs when any port has a role; otherwise the ports do L2 forwarding.
    pub fn is_fast_path(&self) -> bool {
        self.ports.iter().any(|p| !p.roles.is_empty())
    }

    /// The signalling role, if the configuration asks for one.
    pub fn has_procedures(&self) -> bool {
        self.lma.is_some() || self.mag.is_some()
    }

    /// Where this gateway's keys and addresses sit, for `workers` workers; the error names the key.
    pub fn placement(&self, workers: u32) -> Result<Placement, (String, String)> {
        let c = &self.cluster;
        let mut placement =
            Placement { instance: c.instance, instances: c.instances, ..Placement::for_workers(workers) };
        if let Some(bits) = c.worker_bits {
            placement.worker_bits = bits;
        }
        placement.check().map_err(|e| (format!("cluster.{}", e.setting()), e.to_string()))?;
        Ok(placement)
    }

    /// The `[lma]` section as the procedures take it: placed for `workers` workers.
    pub fn lma_config(&self, workers: u32) -> Result<Option<LmaConfig>, (String, String)> {
        let placement = self.placement(workers)?;
        Ok(self.lma.clone().map(|lma| LmaConfig { placement, ..lma }))
    }

    /// The `[mag]` section as the procedures take it: placed for `workers` workers.
    pub fn mag_config(&self, workers: u32) -> Result<Option<MagConfig>, (String, String)> {
        let placement = self.placement(workers)?;
        Ok(self.mag.clone().map(|mag| MagConfig { placement, ..mag }))
    }

    /// The keys and home addresses this gateway hands out, as its cluster instance (`[cluster]`); empty without
    /// `[lma]` or `[mag]`. The worker field does not move an instance's block, so one worker stands for any.
    pub fn spans(&self) -> Result<Vec<Span>, (String, String)> {
        let mut spans = Vec::new();
        if let Some(lma) = self.lma_config(1)? {
            spans.extend(lma.spans().map_err(|e| procedures_error("lma", e))?);
        }
        if let Some(mag) = self.mag_config(1)? {
            spans.extend(mag.spans().map_err(|e| procedures_error("mag", e))?);
        }
        Ok(spans)
    }

    /// The source of ICMP errors sent out of port `i`, per family: `icmp_source`, else the first of `addresses`.
    pub fn icmp_sources(&self, i: usize) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        let Some(port) = self.ports.get(i) else { return (None, None) };
        let listed = if port.icmp_source.is_empty() { &port.addresses } else { &port.icmp_source };
        let v4 = listed.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        });
        let v6 = listed.iter().find_map(|a| match a {
            IpAddr::V6(v6) if !v6.is_unicast_link_local() => Some(*v6),
            _ => None,
        });
        (v4, v6)
    }

    /// The gateway's own addresses on port `i`: its `addresses`, plus the tunnel addresses on a `core` port.
    pub fn port_addresses(&self, i: usize) -> Vec<IpAddr> {
        let Some(port) = self.ports.get(i) else { return Vec::new() };
        let mut own = port.addresses.clone();
        if port.roles.contains(&RoleName::Core) {
            for tunnel_end in self.gateway.lmaa.iter().chain(&self.gateway.proxy_coa) {
                if !own.contains(tunnel_end) {
                    own.push(*tunnel_end);
                }
            }
        }
        own
    }

    /// The roles of port `index`.
    pub fn roles(&self, index: usize) -> Roles {
        let mut roles = Roles::default();
        for role in self.ports.get(index).map_or(&[][..], |p| &p.roles) {
            match role {
                RoleName::Core => roles.core = true,
                RoleName::Access => roles.access = true,
                RoleName::Sgi => roles.sgi = true,
            }
        }
        roles
    }

    /// The poll loops' idle behaviour.
    pub fn idle_policy(&self) -> IdlePolicy {
        match self.run.idle.policy {
            IdlePolicyName::Spin => IdlePolicy::Spin,
            IdlePolicyName::Sleep => IdlePolicy::Sleep {
                empty_polls: self.run.idle.empty_polls,
                sleep: Duration::from_micros(self.run.idle.sleep_us),
            },
        }
    }

    pub fn exit_when_idle(&self) -> Option<Duration> {
        self.run.exit_when_idle_ms.map(Duration::from_millis)
    }
}

impl RoleName {
    fn name(self) -> &'static str {
        match self {
            RoleName::Core => "core",
            RoleName::Access => "access",
            RoleName::Sgi => "sgi",
        }
    }
}

#[cfg(test)]
mod tests;
