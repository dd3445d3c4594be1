//! The gateway's TOML configuration: parsing, defaults and validation.
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

/// The tables of a fast-path config with its static bindings installed, and each binding's slot in config order
/// (the `[[binding]]` tables, then the file's lines).
#[derive(Debug)]
pub struct StaticTables {
    pub tables: UpdateSender,
    pub installed: Vec<BindingId>,
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

/// The last address text a bindings file had in one column, and its value.
#[derive(Debug, Default)]
pub struct LastAddress(Option<(String, IpAddr)>);

impl LastAddress {
    fn parse(&mut self, text: &str, parse: impl Fn(&str) -> Result<IpAddr, String>) -> Result<IpAddr, String> {
        match &self.0 {
            Some((last, address)) if last == text => Ok(*address),
            _ => {
                let address = parse(text)?;
                self.0 = Some((text.to_owned(), address));
                Ok(address)
            }
        }
    }
}

impl BindingSection {
    /// One line of a bindings file: `function,local,remote,uplink_key,downlink_key,ue_ipv4,ue_ipv6_prefix`, keys
    /// in decimal or `0x` hex, empty fields for none. `last` remembers the last `local` and `remote` parsed: in a
    /// file of a million lines they repeat (one LMAA, a few MAGs), and parsing them again would be a third of the
    /// load time.
    pub fn from_line(text: &str, last: &mut [LastAddress; 2]) -> Result<BindingSection, String> {
        // Into a fixed array, not a Vec, and split by bytes: a million lines load at start-up.
        let mut fields = [""; 7];
        let mut count = 0;
        let mut start = 0;
        for end in text.bytes().enumerate().filter(|(_, b)| *b == b',').map(|(i, _)| i).chain([text.len()]) {
            if let Some(slot) = fields.get_mut(count) {
                // ',' is ASCII: both ends are character boundaries.
                *slot = text.get(start..end).unwrap_or_default().trim_ascii();
            }
            start = end + 1;
            count += 1;
        }
        if count != fields.len() {
            return Err(format!(
                "{count} fields where 7 are expected: function,local,remote,uplink_key,downlink_key,ue_ipv4,ue_ipv6_prefix"
            ));
        }
        let [function, local, remote, uplink, downlink, ipv4, prefix] = fields;
        let function = match function {
            "lma" => FunctionName::Lma,
            "mag" => FunctionName::Mag,
            other => return Err(format!("function {other:?} is neither \"lma\" nor \"mag\"")),
        };
        let address = |name: &str, text: &str| {
            text.parse::<IpAddr>().map_err(|_| format!("{name} {text:?} is not an IP address"))
        };
        let key = |name: &str, text: &str| -> Result<Option<u32>, String> {
            if text.is_empty() {
                return Ok(None);
            }
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.map(Some).map_err(|_| format!("{name} {text:?} is not a 32-bit GRE key"))
        };
        let [last_local, last_remote] = last;
        Ok(BindingSection {
            function,
            local: last_local.parse(local, |text| address("local", text))?,
            remote: last_remote.parse(remote, |text| address("remote", text))?,
            uplink_key: key("uplink_key", uplink)?,
            downlink_key: key("downlink_key", downlink)?,
            ue_ipv4: match ipv4 {
                "" => None,
                text => Some(text.parse().map_err(|_| format!("ue_ipv4 {text:?} is not an IPv4 address"))?),
            },
            ue_ipv6_prefix: match prefix {
                "" => None,
                text => Some(text.parse().map_err(|e| format!("ue_ipv6_prefix: {e}"))?),
            },
        })
    }

    /// The data plane's form; the config was validated, so the endpoints have one family.
    pub fn to_binding(&self) -> Result<Binding, String> {
        let tunnel = match (self.local, self.remote) {
            (IpAddr::V6(local), IpAddr::V6(remote)) => TunnelEndpoints::Ipv6 { local, remote },
            (IpAddr::V4(local), IpAddr::V4(remote)) => TunnelEndpoints::Ipv4 { local, remote },
            _ => return Err(format!("local {} and remote {} are not of one family", self.local, self.remote)),
        };
        Ok(Binding {
            function: match self.function {
                FunctionName::Lma => Function::Lma,
                FunctionName::Mag => Function::Mag,
            },
            tunnel,
            uplink_key: self.uplink_key,
            downlink_key: self.downlink_key,
            ue_ipv4: self.ue_ipv4,
            ue_ipv6_prefix: self.ue_ipv6_prefix.map(|p| p.0),
            next_hop: Default::default(),
        })
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

    /// The fast path's tables with the static bindings installed — the `[[binding]]` tables, then the lines of
    /// `gateway.bindings_file`, streamed, never held as text — or `None` without the fast path. `path` is the
    /// config file's, which a relative bindings file is read from. Errors name the table or the file's line.
    pub fn static_tables(&self, path: &Path) -> Result<Option<StaticTables>, ConfigError> {
        let invalid =
            |(key, problem): (String, String)| ConfigError::Invalid { path: path.into(), key, problem, line: None };
        if !self.is_fast_path() {
            if !self.bindings.is_empty() || self.gateway.bindings_file.is_some() {
                return Err(invalid(("binding".into(), "bindings need ports with roles (core, access, sgi)".into())));
            }
            return Ok(None);
        }
        let mut loaded = StaticTables { tables: UpdateSender::new(self.table_config()), installed: Vec::new() };
        let role_ports = self.role_ports();
        for (i, section) in self.bindings.iter().enumerate() {
            let name = |field: Option<&str>| match field {
                Some(field) => format!("binding[{i}].{field}"),
                None => format!("binding[{i}]"),
            };
            self.install_static(&mut loaded, &role_ports, section, name).map_err(invalid)?;
        }
        if let Some(file) = &self.gateway.bindings_file {
            let file = path.parent().map_or(file.clone(), |dir| dir.join(file));
            self.stream_bindings_file(&file, &role_ports, &mut loaded).map_err(invalid)?;
        }
        Ok(Some(loaded))
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

    /// Installs the bindings of a bindings file (see [`GatewaySection::bindings_file`]), line by line.
    fn stream_bindings_file(
        &self,
        file: &Path,
        role_ports: &[Option<usize>; 3],
        loaded: &mut StaticTables,
    ) -> Result<(), (String, String)> {
        use std::io::BufRead;
        const KEY: &str = "gateway.bindings_file";
        let open =
            std::fs::File::open(file).map_err(|e| (KEY.into(), format!("cannot read {}: {e}", file.display())))?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, open);
        let mut line = String::new();
        let mut last = [LastAddress::default(), LastAddress::default()];
        for number in 1.. {
            line.clear();
            let read = reader.read_line(&mut line);
            let read = read.map_err(|e| (KEY.into(), format!("{} line {number}: {e}", file.display())))?;
            if read == 0 {
                return Ok(());
            }
            let comment = line.bytes().position(|b| b == b'#').unwrap_or(line.len());
            let text = line.get(..comment).unwrap_or_default().trim_ascii();
            if text.is_empty() || text.starts_with("function,") {
                continue;
            }
            let section = BindingSection::from_line(text, &mut last)
                .map_err(|e| (KEY.into(), format!("{} line {number}: {e}", file.display())))?;
            let name = |field: Option<&str>| match field {
                Some(field) => format!("{KEY} line {number} ({field})"),
                None => format!("{KEY} line {number}"),
            };
            self.install_static(loaded, role_ports, &section, name)?;
        }
        Ok(())
    }

    /// Checks one static binding against the rest of the config (`role_ports`: [`Config::role_ports`]) and
    /// installs it. `name(None)` names the binding in errors, `name(Some(field))` one of its fields (only when
    /// there is an error to name).
    fn install_static(
        &self,
        loaded: &mut StaticTables,
        role_ports: &[Option<usize>; 3],
        section: &BindingSection,
        name: impl Fn(Option<&str>) -> String,
    ) -> Result<(), (String, String)> {
        let key = |field: &str| name(Some(field));
        let g = &self.gateway;
        if loaded.installed.len() >= g.table_capacity {
            return Err((
                "gateway.table_capacity".into(),
                format!("{} is less than the static bindings: {} is one more", g.table_capacity, name(None)),
            ));
        }
        let (own, own_key, needs) = match section.function {
            FunctionName::Lma => (&g.lmaa, "gateway.lmaa", RoleName::Sgi),
            FunctionName::Mag => (&g.proxy_coa, "gateway.proxy_coa", RoleName::Access),
        };
        if !own.contains(&section.local) {
            return Err((key("local"), format!("{} is not in {own_key}", section.local)));
        }
        for role in [RoleName::Core, needs] {
            if role_ports[role as usize].is_none() {
                return Err((key("function"), format!("no port has the role {:?} this binding sends to", role.name())));
            }
        }
        let binding = section.to_binding().map_err(|problem| (key("remote"), problem))?;
        let done = loaded.tables.install(binding).map_err(|problem| (name(None), problem.to_string()))?;
        loaded.installed.push(done.id);
        Ok(())
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

    /// Checks what the types alone cannot: references between keys, ranges, uniqueness (the static bindings:
    /// [`Config::static_tables`]).
    fn validate(&self) -> Result<(), (String, String)> {
        let d = &self.dpdk;
        if d.lcores.trim().is_empty() {
            return Err(("dpdk.lcores".into(), "must name at least one lcore, e.g. \"0\" or \"0-1\"".into()));
        }
        if !(1024..=65535 - 128).contains(&d.mbuf_size) {
            return Err(("dpdk.mbuf_size".into(), format!("{} is outside 1024..=65407", d.mbuf_size)));
        }
        if d.mempool_size < 1023 {
            return Err(("dpdk.mempool_size".into(), format!("{} is too small; use at least 1023", d.mempool_size)));
        }
        if d.mempool_cache > 512 || d.mempool_cache as u64 * 3 > d.mempool_size as u64 * 2 {
            return Err((
                "dpdk.mempool_cache".into(),
                format!("{} must be at most 512 and at most mempool_size / 1.5", d.mempool_cache),
            ));
        }
        for (key, n) in [("dpdk.rx_descriptors", d.rx_descriptors), ("dpdk.tx_descriptors", d.tx_descriptors)] {
            if !(32..=16384).contains(&n) {
                return Err((key.into(), format!("{n} is outside 32..=16384")));
            }
        }
        if self.run.idle.policy == IdlePolicyName::Sleep && self.run.idle.sleep_us == 0 {
            return Err(("run.idle.sleep_us".into(), "must be above 0 with policy \"sleep\"".into()));
        }
        if self.ports.is_empty() {
            return Err(("port".into(), "at least one [[port]] is needed".into()));
        }
        let mut names = HashSet::new();
        let mut devices = HashSet::new();
        for (i, port) in self.ports.iter().enumerate() {
            let key = |field: &str| format!("port[{i}].{field}");
            if port.name.is_empty() || !port.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err((key("name"), format!("{:?} must be non-empty letters, digits, '-' or '_'", port.name)));
            }
            if !names.insert(port.name.as_str()) {
                return Err((key("name"), format!("{:?} is used by another port", port.name)));
            }
            check_device(&port.device).map_err(|p| (key("device"), p))?;
            if !devices.insert(port.device.as_str()) {
                return Err((key("device"), format!("{:?} is used by another port", port.device)));
            }
            if port.devargs.contains(char::is_whitespace) {
                return Err((key("devargs"), "must not contain spaces (DPDK devargs are comma-separated)".into()));
            }
            if let Some(mtu) = port.mtu {
                if !(576..=9600).contains(&mtu) {
                    return Err((key("mtu"), format!("{mtu} is outside 576..=9600")));
                }
            }
            port.outer_dscp.to_pipeline().map_err(|problem| (key("outer_dscp"), problem))?;
        }
        for (i, port) in self.ports.iter().enumerate() {
            if let Some(target) = &port.forward_to {
                if !names.contains(target.as_str()) {
                    return Err((format!("port[{i}].forward_to"), format!("no port is named {target:?}")));
                }
                if self.is_fast_path() {
                    return Err((
                        format!("port[{i}].forward_to"),
                        "L2 forwarding cannot be combined with fast-path roles on other ports".into(),
                    ));
                }
            }
        }
        self.validate_fast_path()?;
        self.validate_procedures()
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

    /// Checks the `[lma]` / `[mag]` sections against each other and against the fast path's addresses.
    fn validate_procedures(&self) -> Result<(), (String, String)> {
        let named = procedures_error;
        // One worker for the checks here: the start checks the worker bits against the workers EAL gives.
        match (&self.lma_config(1)?, &self.mag_config(1)?) {
            (Some(_), Some(_)) => {
                return Err(("mag".into(), "a gateway runs one role: remove [lma] or [mag]".into()));
            }
            (None, None) => return Ok(()),
            (Some(lma), None) => {
                lma.build_pools().map_err(|e| named("lma", e))?;
                if self.gateway.lmaa.is_empty() {
                    return Err(("gateway.lmaa".into(), "an LMA needs at least one LMA address".into()));
                }
            }
            (None, Some(mag)) => {
                mag.validate().map_err(|e| named("mag", e))?;
                for (key, address) in [
                    ("mag.local_ipv6", mag.local_ipv6.map(IpAddr::V6)),
                    ("mag.local_ipv4", mag.local_ipv4.map(IpAddr::V4)),
                ] {
                    if let Some(address) = address {
                        if !self.gateway.proxy_coa.contains(&address) {
                            return Err((key.into(), format!("{address} must also be listed in gateway.proxy_coa")));
                        }
                    }
                }
            }
        }
        if !self.ports.iter().any(|p| p.roles.contains(&RoleName::Core)) {
            return Err(("port".into(), "signalling needs a port with the core role".into()));
        }
        Ok(())
    }

    /// One next hop per family, and an address of the port to ask for an IPv4 next hop from (ARP has no
    /// link-local form; NDP uses the port's link-local address).
    fn validate_neighbours(&self, i: usize, port: &PortSection) -> Result<(), (String, String)> {
        let key = format!("port[{i}].next_hop");
        let v4: Vec<_> = port.next_hop.iter().filter(|a| a.is_ipv4()).collect();
        let v6: Vec<_> = port.next_hop.iter().filter(|a| a.is_ipv6()).collect();
        if v4.len() > 1 || v6.len() > 1 {
            return Err((key, "at most one IPv4 and one IPv6 next hop".into()));
        }
        let sources = &port.icmp_source;
        if sources.iter().filter(|a| a.is_ipv4()).count() > 1 || sources.iter().filter(|a| a.is_ipv6()).count() > 1 {
            return Err((format!("port[{i}].icmp_source"), "at most one IPv4 and one IPv6 address".into()));
        }
        if let Some(bad) = sources.iter().find(|a| a.is_unspecified() || a.is_multicast() || a.is_loopback()) {
            return Err((format!("port[{i}].icmp_source"), format!("{bad} does not name this gateway")));
        }
        if let Some(hop) = v4.first() {
            let own = self.port_addresses(i);
            if !own.iter().any(|a| a.is_ipv4()) {
                return Err((
                    key,
                    format!(
                        "{hop} is resolved by ARP, which needs an IPv4 address of this port in port[{i}].addresses"
                    ),
                ));
            }
        }
        Ok(())
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

    fn validate_fast_path(&self) -> Result<(), (String, String)> {
        let g = &self.gateway;
        if !self.is_fast_path() {
            return Ok(());
        }
        if g.outer_hop_limit == 0 {
            return Err(("gateway.outer_hop_limit".into(), "must be at least 1".into()));
        }
        if !(1..=1 << 24).contains(&g.table_capacity) {
            return Err(("gateway.table_capacity".into(), format!("{} is outside 1..=16777216", g.table_capacity)));
        }
        for (key, depth) in
            [("gateway.update_queue_depth", g.update_queue_depth), ("gateway.punt_queue_depth", g.punt_queue_depth)]
        {
            if !(1..=1 << 20).contains(&depth) {
                return Err((key.into(), format!("{depth} is outside 1..=1048576")));
            }
        }
        if !(8..=1 << 20).contains(&g.reassembly_entries) {
            return Err((
                "gateway.reassembly_entries".into(),
                format!("{} is outside 8..=1048576", g.reassembly_entries),
            ));
        }
        if !(1..=60_000).contains(&g.reassembly_timeout_ms) {
            return Err((
                "gateway.reassembly_timeout_ms".into(),
                format!("{} is outside 1..=60000 (RFC 8200 §4.5: 60 s at most)", g.reassembly_timeout_ms),
            ));
        }
        if g.signalling_burst_per_peer == 0 {
            return Err(("gateway.signalling_burst_per_peer".into(), "must be at least 1".into()));
        }
        if g.lmaa.is_empty() && g.proxy_coa.is_empty() {
            return Err(("gateway.lmaa".into(), "the fast path needs at least one LMAA or Proxy-CoA".into()));
        }
        let mut role_ports = [None; 3];
        for (i, port) in self.ports.iter().enumerate() {
            for role in &port.roles {
                let slot = &mut role_ports[*role as usize];
                if let Some(other) = *slot {
                    return Err((
                        format!("port[{i}].roles"),
                        format!("{} is already the role of port[{other}]; each role is on one port", role.name()),
                    ));
                }
                *slot = Some(i);
            }
            if !port.roles.is_empty() && port.next_hop_mac.is_none() && !self.has_procedures() {
                return Err((
                    format!("port[{i}].next_hop_mac"),
                    "is needed on a port with roles unless [lma] or [mag] runs neighbour resolution".into(),
                ));
            }
            self.validate_neighbours(i, port)?;
        }
        Ok(())
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

/// A DPDK device name: `net_<driver><n>` for virtual devices, or a PCI address `DDDD:BB:DD.F`.
/// Instances of one cluster (each configuration with its file): every pair must hand out disjoint keys and home
/// addresses (`pmipgw --check-config --cluster-with`). The error names the second file, its setting, and the
/// file it overlaps.
pub fn check_cluster(configs: &[(PathBuf, Config)]) -> Result<(), ConfigError> {
    let mut seen: Vec<(&PathBuf, &Config, Vec<Span>)> = Vec::new();
    for (path, config) in configs {
        let spans = config.spans().map_err(|(key, problem)| ConfigError::Invalid {
            path: path.clone(),
            key,
            problem,
            line: None,
        })?;
        for (other_path, other, other_spans) in &seen {
            if let Some((ours, theirs)) = controlplane::config::first_overlap(&spans, other_spans) {
                let (c, o) = (&config.cluster, &other.cluster);
                return Err(ConfigError::Invalid {
                    path: path.clone(),
                    key: ours.setting.clone(),
                    problem: format!(
                        "hands out {ours}, which {} hands out too as {theirs}: instances of one cluster need \
                         disjoint keys and addresses (cluster.instance {} of {} here, {} of {} there)",
                        other_path.display(),
                        c.instance,
                        c.instances,
                        o.instance,
                        o.instances
                    ),
                    line: None,
                });
            }
        }
        seen.push((path, config, spans));
    }
    Ok(())
}

/// An `[lma]` / `[mag]` error as (key, problem), the key under its section.
fn procedures_error(section: &str, err: controlplane::config::ConfigError) -> (String, String) {
    match err {
        controlplane::config::ConfigError::Invalid { key, problem } => (format!("{section}.{key}"), problem),
        other => (section.to_owned(), other.to_string()),
    }
}

fn check_device(device: &str) -> Result<(), String> {
    let vdev =
        device.starts_with("net_") && device.len() > 4 && device.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let pci = {
        let parts: Vec<&str> = device.split([':', '.']).collect();
        parts.len() == 4
            && [4, 2, 2, 1]
                .iter()
                .zip(&parts)
                .all(|(len, p)| p.len() == *len && p.chars().all(|c| c.is_ascii_hexdigit()))
    };
    if vdev || pci {
        Ok(())
    } else {
        Err(format!(
            "{device:?} is neither a virtual device (net_pcap0, net_memif0, ...) nor a PCI address (0000:3b:00.0)"
        ))
    }
}

/// The dotted key path serde_path_to_error reports ("." for the top level, where the message names the field).
fn key_of(path: &str, message: &str) -> String {
    if path != "." {
        return path.to_owned();
    }
    let field = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next());
    field.unwrap_or("(top level)").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let mut config = Config::parse(text, Path::new("t.toml")).map_err(|e| e.to_string())?;
        config.validate().map_err(|(k, p)| format!("key '{k}': {p}"))?;
        config.static_tables = config.static_tables(Path::new("t.toml")).map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// The static binding installed `n`th (config order).
    fn static_binding(config: &Config, n: usize) -> dataplane::binding::Binding {
        let loaded = config.static_tables.as_ref().expect("a fast-path config");
        *loaded.tables.table().get(loaded.installed[n]).expect("installed")
    }

    const MINIMAL: &str = "[dpdk]\n[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.dpdk.lcores, "0");
        assert_eq!(c.dpdk.mempool_size, 8191);
        assert_eq!(c.run.idle.policy, IdlePolicyName::Spin);
        assert_eq!(c.ports[0].probe_args(), "net_null0");
    }

    #[test]
    fn unknown_key_is_named_with_its_section() {
        let err = parse(&format!("{MINIMAL}bogus = 1\n")).unwrap_err();
        assert!(err.contains("key 'port[0].bogus'"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn malformed_value_names_the_key() {
        let err = parse(&format!("{MINIMAL}mtu = \"big\"\n")).unwrap_err();
        assert!(err.contains("key 'port[0].mtu'"), "{err}");
        let err = parse(&format!("{MINIMAL}next_hop_mac = \"02:00\"\n")).unwrap_err();
        assert!(err.contains("key 'port[0].next_hop_mac'") && err.contains("not a MAC"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = parse(&format!("{MINIMAL}forward_to = \"nowhere\"\n")).unwrap_err();
        assert!(err.contains("port[0].forward_to") && err.contains("nowhere"), "{err}");
        let err = parse("[dpdk]\n[[port]]\nname = \"a\"\ndevice = \"eth0\"\n").unwrap_err();
        assert!(err.contains("port[0].device"), "{err}");
        let err = parse("[dpdk]\nmempool_size = 10\n[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n").unwrap_err();
        assert!(err.contains("dpdk.mempool_size"), "{err}");
    }

    const LMA: &str = "[dpdk]\n[gateway]\nlmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]\n\
        [[port]]\nname = \"core\"\ndevice = \"net_null0\"\nroles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:00:01\"\n\
        [[port]]\nname = \"sgi\"\ndevice = \"net_null1\"\nroles = [\"sgi\"]\nnext_hop_mac = \"02:00:00:00:00:02\"\n";
    const BINDING: &str = "[[binding]]\nfunction = \"lma\"\nlocal = \"2001:db8:2::1\"\nremote = \"2001:db8:1::1\"\n\
        uplink_key = 0x0a0b0c0d\ndownlink_key = 0x00010001\nue_ipv4 = \"10.45.0.2\"\n\
        ue_ipv6_prefix = \"2001:db8:aaaa:1::/64\"\n";

    #[test]
    fn cluster_errors_name_the_key() {
        let lma = format!(
            "{LMA}[lma]\nallowed_mags = [\"2001:db8:1::/64\"]\n[[lma.apns]]\nname = \"internet\"\n\
             ipv4_pool = \"10.45.0.0/24\"\n"
        );
        let config = parse(&format!("{lma}[cluster]\ninstance = 1\ninstances = 2\n")).expect("a valid cluster");
        let placement = config.placement(3).unwrap();
        assert_eq!((placement.instance_keys(), placement.worker_bits), ((0x8000_0000, u32::MAX), 2));
        for (cluster, key, problem) in [
            ("instance = 2\ninstances = 2\n", "cluster.instance", "below cluster.instances"),
            ("instances = 131072\n", "cluster.instances", "count with"),
            ("worker_bits = 17\n", "cluster.worker_bits", "worker bits"),
        ] {
            let err = parse(&format!("{lma}[cluster]\n{cluster}")).unwrap_err();
            assert!(err.contains(key) && err.contains(problem), "{cluster}: {err}");
        }
        let keys = lma.replace("[[lma.apns]]", "uplink_keys = { first = 1, last = 0xffff }\n[[lma.apns]]");
        let err = parse(&format!("{keys}[cluster]\ninstance = 1\ninstances = 2\n")).unwrap_err();
        assert!(err.contains("lma.uplink_keys") && err.contains("0x80000000..=0xffffffff"), "{err}");
        let small = lma.replace("10.45.0.0/24", "10.45.0.0/30");
        let err = parse(&format!("{small}[cluster]\ninstances = 2\n")).unwrap_err();
        assert!(err.contains("10.45.0.0/30") && err.contains("instances"), "{err}");
        let fixed = parse(&format!("{lma}[cluster]\nworker_bits = 2\n")).expect("two bits");
        let err = fixed.placement(5).unwrap_err();
        assert_eq!(err.0, "cluster.worker_bits", "5 workers need 3 bits when the bits are fixed: {err:?}");
    }

    #[test]
    fn icmp_sources_default_to_the_port_addresses_and_are_checked() {
        let sgi = |lines: &str| {
            LMA.replace(
                "next_hop_mac = \"02:00:00:00:00:02\"\n",
                &format!("next_hop_mac = \"02:00:00:00:00:02\"\n{lines}"),
            )
        };
        let c =
            parse(&sgi("addresses = [\"fe80::1\", \"2001:db8:50::1\", \"203.0.113.1\", \"203.0.113.2\"]\n")).unwrap();
        let expected = (Some(Ipv4Addr::new(203, 0, 113, 1)), Some("2001:db8:50::1".parse().unwrap()));
        assert_eq!(c.icmp_sources(1), expected, "the first of each family, never a link-local one");
        assert_eq!(c.icmp_sources(0), (None, None));
        assert_eq!(c.gateway.icmp_errors_per_second, 1000);
        let c = parse(&sgi("addresses = [\"203.0.113.1\"]\nicmp_source = [\"192.0.2.77\"]\n")).unwrap();
        assert_eq!(c.icmp_sources(1), (Some(Ipv4Addr::new(192, 0, 2, 77)), None), "icmp_source wins");
        let err = parse(&sgi("icmp_source = [\"192.0.2.1\", \"192.0.2.2\"]\n")).unwrap_err();
        assert!(err.contains("key 'port[1].icmp_source'") && err.contains("at most one IPv4"), "{err}");
        let err = parse(&sgi("icmp_source = [\"224.0.0.1\"]\n")).unwrap_err();
        assert!(err.contains("key 'port[1].icmp_source'") && err.contains("224.0.0.1"), "{err}");
    }

    #[test]
    fn outer_dscp_is_copy_or_a_value() {
        use dataplane::pipeline::OuterDscp;
        let core = |line: &str| LMA.replace("roles = [\"core\"]\n", &format!("roles = [\"core\"]\n{line}"));
        assert_eq!(parse(LMA).unwrap().ports[0].outer_dscp.to_pipeline(), Ok(OuterDscp::Copy), "the default");
        assert_eq!(
            parse(&core("outer_dscp = 46\n")).unwrap().ports[0].outer_dscp.to_pipeline(),
            Ok(OuterDscp::Fixed(46))
        );
        assert_eq!(
            parse(&core("outer_dscp = \"copy\"\n")).unwrap().ports[0].outer_dscp.to_pipeline(),
            Ok(OuterDscp::Copy)
        );
        for (bad, says) in [("64", "outside 0..=63"), ("\"ef\"", "use \"copy\"")] {
            let err = parse(&core(&format!("outer_dscp = {bad}\n"))).unwrap_err();
            assert!(err.contains("key 'port[0].outer_dscp'") && err.contains(says), "{err}");
        }
    }

    #[test]
    fn neighbour_keys_are_checked_per_port() {
        // The SGi port resolves its router by ARP and NDP from its own addresses.
        let sgi = LMA.replace(
            "next_hop_mac = \"02:00:00:00:00:02\"\n",
            "next_hop_mac = \"02:00:00:00:00:02\"\naddresses = [\"203.0.113.1\"]\nnext_hop = [\"203.0.113.10\", \"2001:db8:50::10\"]\n\
             [[port.neighbor]]\nip = \"203.0.113.20\"\nmac = \"02:00:00:00:00:20\"\n",
        );
        let c = parse(&sgi).unwrap();
        assert_eq!(c.ports[1].next_hop.len(), 2);
        assert_eq!(c.ports[1].neighbors[0].mac, MacAddr([2, 0, 0, 0, 0, 0x20]));
        assert_eq!(c.port_addresses(0).len(), 2, "core answers for the LMAAs");
        assert_eq!(c.port_addresses(1), vec![IpAddr::from([203, 0, 113, 1])]);

        let two_v4 = sgi.replace("\"2001:db8:50::10\"", "\"203.0.113.11\"");
        let err = parse(&two_v4).unwrap_err();
        assert!(err.contains("key 'port[1].next_hop'") && err.contains("at most one IPv4"), "{err}");
        let no_source = sgi.replace("addresses = [\"203.0.113.1\"]\n", "");
        let err = parse(&no_source).unwrap_err();
        assert!(err.contains("key 'port[1].next_hop'") && err.contains("port[1].addresses"), "{err}");
        let bad_mac = sgi.replace("02:00:00:00:00:20", "nope");
        let err = parse(&bad_mac).unwrap_err();
        assert!(err.contains("port[1].neighbor[0].mac") && err.contains("not a MAC"), "{err}");
    }

    /// Writes `config` and `lines` (as `b.csv`) into a scratch directory and loads the config.
    fn load_with_file(config: &str, lines: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), lines).unwrap();
        let config = config.replace("[gateway]\n", "[gateway]\nbindings_file = \"b.csv\"\n");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config).unwrap();
        Config::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn a_bindings_file_adds_static_bindings_and_errors_name_its_line() {
        let lines = "function,local,remote,uplink_key,downlink_key,ue_ipv4,ue_ipv6_prefix\n\
            # two LMA bindings\n\
            lma,2001:db8:2::1,2001:db8:1::1,0x0a0b0c0d,65537,10.45.0.2,2001:db8:aaaa:1::/64\n\
            \n\
            lma, 198.51.100.1, 192.0.2.1, 0x0a0b0c0e, 0x00010002, 10.45.0.3,  # IPv4 transport, no prefix\n";
        let c = load_with_file(
            &format!("{LMA}{BINDING}")
                .replace("0x0a0b0c0d", "0x0a0b0c0f")
                .replace("10.45.0.2", "10.45.0.9")
                .replace("aaaa:1::", "aaaa:9::"),
            lines,
        )
        .unwrap();
        assert_eq!(c.static_tables.as_ref().unwrap().installed.len(), 3, "one [[binding]] table, then two lines");
        assert_eq!(static_binding(&c, 0).uplink_key, Some(0x0a0b_0c0f));
        let file = static_binding(&c, 1);
        assert_eq!((file.uplink_key, file.downlink_key), (Some(0x0a0b_0c0d), Some(0x0001_0001)));
        assert_eq!(file.ue_ipv6_prefix, Some("2001:db8:aaaa:1::".parse().unwrap()));
        let v4 = static_binding(&c, 2);
        assert_eq!((v4.ue_ipv4, v4.ue_ipv6_prefix), (Some(Ipv4Addr::new(10, 45, 0, 3)), None));

        for (bad, key, problem) in [
            ("lma,2001:db8:2::1,2001:db8:1::1,1,2,10.45.0.2\n", "gateway.bindings_file", "line 1: 6 fields"),
            ("lma,2001:db8:2::1,2001:db8:1::1,0x1ffffffff,2,10.45.0.2,\n", "gateway.bindings_file", "uplink_key"),
            ("lmx,2001:db8:2::1,2001:db8:1::1,1,2,10.45.0.2,\n", "gateway.bindings_file", "neither"),
            ("lma,2001:db8:2::1,2001:db8:1::1,1,2,10.45.0.2,2001:db8::/48\n", "gateway.bindings_file", "/64"),
            ("\nlma,2001:db8:9::1,2001:db8:1::1,1,2,10.45.0.2,\n", "gateway.bindings_file line 2 (local)", "lmaa"),
            (
                "lma,2001:db8:2::1,2001:db8:1::1,7,2,10.45.0.2,\nlma,2001:db8:2::1,2001:db8:1::1,7,3,10.45.0.3,\n",
                "gateway.bindings_file line 2",
                "uplink GRE key 0x00000007",
            ),
        ] {
            let err = load_with_file(LMA, bad).unwrap_err();
            assert!(err.contains(&format!("key '{key}")) && err.contains(problem), "{bad:?}: {err}");
        }
        let two = "lma,2001:db8:2::1,2001:db8:1::1,7,2,10.45.0.2,\nlma,2001:db8:2::1,2001:db8:1::1,8,3,10.45.0.3,\n";
        let err = load_with_file(&LMA.replace("[gateway]\n", "[gateway]\ntable_capacity = 1\n"), two).unwrap_err();
        assert!(err.contains("key 'gateway.table_capacity'") && err.contains("line 2 is one more"), "{err}");
        let missing = Config::load(Path::new("/nonexistent")).unwrap_err().to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }

    #[test]
    fn fast_path_config_with_a_static_binding() {
        let c = parse(&format!("{LMA}{BINDING}")).unwrap();
        assert!(c.is_fast_path());
        assert_eq!(c.gateway.outer_hop_limit, 64);
        assert!(c.gateway.inner_source_check);
        assert_eq!(c.gateway.table_capacity, 1 << 20);
        assert_eq!(c.roles(1), Roles { sgi: true, ..Roles::default() });
        let binding = c.bindings[0].to_binding().unwrap();
        assert_eq!(binding.uplink_key, Some(0x0a0b_0c0d));
        assert_eq!(binding.ue_ipv6_prefix, Some("2001:db8:aaaa:1::".parse().unwrap()));
    }

    #[test]
    fn fast_path_errors_name_the_key() {
        let cases = [
            (format!("{LMA}{}", BINDING.replace("2001:db8:2::1", "2001:db8:9::1")), "binding[0].local", "gateway.lmaa"),
            (format!("{LMA}{}", BINDING.replace("2001:db8:1::1", "192.0.2.1")), "binding[0].remote", "family"),
            (format!("{LMA}{}", BINDING.replace("::/64", "::/48")), "binding[0].ue_ipv6_prefix", "/64"),
            (
                format!("{LMA}{}", BINDING.replace("aaaa:1::/64", "aaaa:1::1/64")),
                "binding[0].ue_ipv6_prefix",
                "beyond /64",
            ),
            (format!("{LMA}{}", BINDING.replace("uplink_key = 0x0a0b0c0d\n", "")), "binding[0]", "both the uplink key"),
            (format!("{LMA}{}", BINDING.replace("0x0a0b0c0d", "0x1ffffffff")), "binding[0].uplink_key", ""),
            (
                format!("{LMA}{BINDING}{}", BINDING.replace("10.45.0.2", "10.45.0.3").replace("aaaa:1", "aaaa:2")),
                "binding[1]",
                "uplink GRE key 0x0a0b0c0d is already used",
            ),
            (format!("{LMA}{}", BINDING.replace("\"lma\"", "\"mag\"")), "binding[0].local", "gateway.proxy_coa"),
            (
                LMA.replace("roles = [\"sgi\"]", "roles = [\"core\"]"),
                "port[1].roles",
                "core is already the role of port[0]",
            ),
            (format!("{}{BINDING}", LMA.replace("roles = [\"sgi\"]", "roles = []")), "binding[0].function", "\"sgi\""),
            (LMA.replace("next_hop_mac = \"02:00:00:00:00:02\"\n", ""), "port[1].next_hop_mac", "needed"),
            (LMA.replace("roles = [\"sgi\"]", "roles = [\"pdn\"]"), "port[1].roles[0]", "unknown variant"),
            (format!("{LMA}forward_to = \"core\"\n"), "port[1].forward_to", "cannot be combined"),
            (
                LMA.replace(
                    "lmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]",
                    "outer_hop_limit = 0\nlmaa = [\"2001:db8:2::1\"]",
                ),
                "gateway.outer_hop_limit",
                "at least 1",
            ),
            (
                LMA.replace(
                    "lmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]",
                    "lmaa = [\"2001:db8:2::1\"]\ntable_capacity = 0",
                ),
                "gateway.table_capacity",
                "outside",
            ),
            (
                LMA.replace("lmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]", "lmaa = [\"2001:db8:2::zz\"]"),
                "gateway.lmaa[0]",
                "invalid IP address",
            ),
            (LMA.replace("lmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]", ""), "gateway.lmaa", "at least one"),
            (format!("{MINIMAL}{BINDING}"), "binding", "ports with roles"),
        ];
        for (text, key, problem) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(&format!("key '{key}'")) && err.contains(problem), "want {key} / {problem}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn pci_addresses_and_vdevs_are_devices() {
        assert!(check_device("0000:3b:00.0").is_ok());
        assert!(check_device("net_pcap12").is_ok());
        assert!(check_device("net_").is_err());
        assert!(check_device("3b:00.0").is_err());
    }

    #[test]
    fn mac_addresses_must_be_six_two_digit_octets() {
        let c = parse(&format!("{MINIMAL}next_hop_mac = \"02:0a:FF:00:00:01\"\n")).unwrap();
        assert_eq!(c.ports[0].next_hop_mac, Some(MacAddr([2, 10, 255, 0, 0, 1])));
        for bad in ["02:0a:ff:00:00:01:07", "2:0a:ff:00:00:01"] {
            let err = parse(&format!("{MINIMAL}next_hop_mac = \"{bad}\"\n")).unwrap_err();
            assert!(err.contains("port[0].next_hop_mac") && err.contains("not a MAC"), "{err}");
        }
    }
}
