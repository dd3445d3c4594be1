//! The gateway's TOML configuration: parsing, defaults and validation.
//!
//! Every error names the key it is about and the problem, in one line, because an operator reading a failed
//! start at 3 a.m. should not have to guess which of forty lines is wrong.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

/// `[dpdk]`: how EAL starts and how much packet memory it gets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpdkSection {
    /// EAL `-l` list: the lcores the gateway may use (first = main lcore).
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
    /// Next hop's MAC address behind this port, written as destination into frames sent out of it.
    pub next_hop_mac: Option<MacAddr>,
    /// L2 forwarding (Foundation processing): the port that frames received here are sent out of.
    pub forward_to: Option<String>,
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

/// An Ethernet address written `02:00:00:00:00:01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddr(pub [u8; 6]);

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a MAC address like 02:00:00:00:00:01");
        let mut mac = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut mac {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(mac))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

fn default_lcores() -> String {
    "0".into()
}
fn default_mempool_size() -> u32 {
    8191
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

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: cannot read it: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path}: key '{key}': {problem}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Invalid { path: PathBuf, key: String, problem: String, line: Option<usize> },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let config = Self::parse(&text, path)?;
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

    /// Checks what the types alone cannot: references between keys, ranges, uniqueness.
    fn validate(&self) -> Result<(), (String, String)> {
        let d = &self.dpdk;
        if d.lcores.trim().is_empty() {
            return Err(("dpdk.lcores".into(), "must name at least one lcore, e.g. \"0\" or \"0-1\"".into()));
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
        }
        for (i, port) in self.ports.iter().enumerate() {
            if let Some(target) = &port.forward_to {
                if !names.contains(target.as_str()) {
                    return Err((format!("port[{i}].forward_to"), format!("no port is named {target:?}")));
                }
            }
        }
        Ok(())
    }

    pub fn exit_when_idle(&self) -> Option<Duration> {
        self.run.exit_when_idle_ms.map(Duration::from_millis)
    }
}

/// A DPDK device name: `net_<driver><n>` for virtual devices, or a PCI address `DDDD:BB:DD.F`.
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
        let config = Config::parse(text, Path::new("t.toml")).map_err(|e| e.to_string())?;
        config.validate().map_err(|(k, p)| format!("key '{k}': {p}"))?;
        Ok(config)
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

    #[test]
    fn pci_addresses_and_vdevs_are_devices() {
        assert!(check_device("0000:3b:00.0").is_ok());
        assert!(check_device("net_pcap12").is_ok());
        assert!(check_device("net_").is_err());
        assert!(check_device("3b:00.0").is_err());
    }

    #[test]
    fn mac_addresses_parse_and_print() {
        let mac: MacAddr = "02:0a:FF:00:00:01".parse().unwrap();
        assert_eq!(mac.0, [2, 10, 255, 0, 0, 1]);
        assert_eq!(mac.to_string(), "02:0a:ff:00:00:01");
        assert!("02:0a:ff:00:00:01:07".parse::<MacAddr>().is_err());
        assert!("2:0a:ff:00:00:01".parse::<MacAddr>().is_err());
    }
}
