//! Every check of a configuration beyond its syntax, each in one place: the errors name the key and the problem.

use super::*;
use dataplane::pipeline::{check_roles, PipelineConfigError};

impl Config {
    /// Checks what the types alone cannot: references between keys, ranges, uniqueness (the static bindings:
    /// [`Config::static_tables`]).
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
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

    /// Checks the `[lma]` / `[mag]` sections against each other and against the fast path's addresses.
    pub(super) fn validate_procedures(&self) -> Result<(), (String, String)> {
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
    pub(super) fn validate_neighbors(&self, i: usize, port: &PortSection) -> Result<(), (String, String)> {
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

    pub(super) fn validate_fast_path(&self) -> Result<(), (String, String)> {
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
        // Each role on one port: the pipeline's rule, reported here under the key that broke it.
        if let Err(PipelineConfigError::RoleOnTwoPorts { role, first, second }) =
            check_roles((0..self.ports.len()).map(|i| self.roles(i)))
        {
            return Err((
                format!("port[{second}].roles"),
                format!("{role} is already the role of port[{first}]; each role is on one port"),
            ));
        }
        for (i, port) in self.ports.iter().enumerate() {
            if !port.roles.is_empty() && port.next_hop_mac.is_none() && !self.has_procedures() {
                return Err((
                    format!("port[{i}].next_hop_mac"),
                    "is needed on a port with roles unless [lma] or [mag] runs neighbour resolution".into(),
                ));
            }
            self.validate_neighbors(i, port)?;
        }
        Ok(())
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
pub(super) fn procedures_error(section: &str, err: controlplane::config::ConfigError) -> (String, String) {
    match err {
        controlplane::config::ConfigError::Invalid { key, problem } => (format!("{section}.{key}"), problem),
        other => (section.to_owned(), other.to_string()),
    }
}

pub(super) fn check_device(device: &str) -> Result<(), String> {
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
pub(super) fn key_of(path: &str, message: &str) -> String {
    if path != "." {
        return path.to_owned();
    }
    let field = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next());
    field.unwrap_or("(top level)").to_owned()
}
