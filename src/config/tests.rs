use super::validate::check_device;
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
        LMA.replace("next_hop_mac = \"02:00:00:00:00:02\"\n", &format!("next_hop_mac = \"02:00:00:00:00:02\"\n{lines}"))
    };
    let c = parse(&sgi("addresses = [\"fe80::1\", \"2001:db8:50::1\", \"203.0.113.1\", \"203.0.113.2\"]\n")).unwrap();
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
    assert_eq!(parse(&core("outer_dscp = 46\n")).unwrap().ports[0].outer_dscp.to_pipeline(), Ok(OuterDscp::Fixed(46)));
    assert_eq!(parse(&core("outer_dscp = \"copy\"\n")).unwrap().ports[0].outer_dscp.to_pipeline(), Ok(OuterDscp::Copy));
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
        (format!("{LMA}{}", BINDING.replace("aaaa:1::/64", "aaaa:1::1/64")), "binding[0].ue_ipv6_prefix", "beyond /64"),
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
