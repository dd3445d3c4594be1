//! Static bindings: the `[[binding]]` sections and the bindings file (`gateway.bindings_file`, one binding a
//! line), installed into the tables while EAL starts; errors name the section or the file's line.

use super::*;

/// The tables of a fast-path config with its static bindings installed, and each binding's slot in config order
/// (the `[[binding]]` tables, then the file's lines).
#[derive(Debug)]
pub struct StaticTables {
    pub tables: UpdateSender,
    pub installed: Vec<BindingId>,
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

impl Config {
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
}
