//! The LMA over DPDK: the real binary on net_pcap answers the shared PBU vectors with PBAs that tshark decodes as
//! accepted with an uplink GRE key, and then decapsulates GRE uplink traffic sent with that key.

mod common;

use common::*;
use std::process::Command;

/// Uplink keys start here, so the first PDN connection gets the shared vectors' uplink key (V9's 0x0a0b0c0d).
const FIRST_UPLINK_KEY: u32 = 0x0a0b_0c0d;
/// Frames between the PBU and the GRE traffic. The PBU goes to the control thread while the worker runs on; the
/// filler (dropped at once, as an unknown EtherType) gives the control thread time to install the tunnel on
/// the worker before the GRE frames are read, as a MAG waits for the PBA before it sends uplink.
const FILLER: usize = 100_000;

fn vectors() -> Vec<Vec<u8>> {
    read_pcap(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/pmipv6_vectors.pcap"))
}

fn lma_config(s: &Scenario) -> String {
    format!(
        "{dpdk}[gateway]\nlmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]\ntable_capacity = 1024\n\n{sections}\
         [lma]\nallowed_mags = [\"2001:db8:1::/64\", \"192.0.2.0/24\"]\n\
         uplink_keys = {{ first = {FIRST_UPLINK_KEY}, last = 0x0a0bffff }}\n\
         # The vectors' timestamps are from 2024: accept them (the window is tested in the control plane's tests).\n\
         timestamp_validity_window_ms = 315360000000\nmax_bindings = 1024\ndefault_apn = \"internet\"\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/48\"\nipv4_pool = \"10.45.0.0/16\"\n\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n",
        dpdk = s.dpdk_section(),
        sections = s.lma_pcap_sections(),
        restart = s.path("restart-counter").display(),
    )
}

/// Runs the LMA over `core_input` and returns its counters.
fn run_lma(s: &Scenario, core_input: &[Vec<u8>]) -> serde_json::Value {
    write_pcap(&s.path("core-in.pcap"), core_input);
    write_pcap(&s.path("empty.pcap"), &[]);
    let config = s.write_config(&lma_config(s));
    let json = s.path("counters.json");
    let out = run_gateway(&["-c", config.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]);
    expect_success(&out);
    let counters = read_json(&json);
    assert_eq!(counters["mempool"]["in_use_after_shutdown"], 0, "no mbuf leaked");
    counters
}

/// tshark's view of the PBAs the LMA sent.
fn pbas(s: &Scenario, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r", s.path("core-out.pcap").to_str().unwrap(), "-Y", "mip6.mhtype == 6", "-T", "fields"]);
    cmd.args(["-E", "separator=|"]);
    for field in fields {
        cmd.args(["-e", field]);
    }
    let out = cmd.output().expect("tshark must be installed (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_owned).collect()).collect()
}

#[test]
fn ipv4_transport_pbu_is_accepted_and_its_uplink_is_decapsulated() {
    let s = Scenario::new("lma-v4");
    let v = vectors();
    let (pbu, gre_uplink) = (&v[3], &v[10]); // V4: PBU over IPv4-UDP; V9: GRE over IPv4 with key 0x0a0b0c0d
    let mut input = vec![pbu.clone()];
    input.extend(std::iter::repeat_n(filler(), FILLER));
    input.extend(std::iter::repeat_n(gre_uplink.clone(), 10));
    let counters = run_lma(&s, &input);

    let rows = pbas(
        &s,
        &["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "mip6.ba.status", "mip6.gre_key", "mip6.ipv4ha.ha"],
    );
    assert_eq!(rows.len(), 1, "one PBA: {rows:?}");
    let pba = &rows[0];
    assert_eq!(&pba[0..4], ["198.51.100.1", "192.0.2.1", "5436", "5436"], "answered in the PBU's own framing");
    assert_eq!(pba[4], "0", "accepted");
    assert_eq!(pba[5], FIRST_UPLINK_KEY.to_string(), "the uplink key the LMA chose");
    assert_eq!(pba[6], "10.45.0.2", "the first IPv4 home address of the pool");

    let fastpath = &counters["fastpath"]["total"];
    assert_eq!(fastpath["decapsulated"], 10, "GRE with the uplink key is decapsulated: {fastpath}");
    let sgi = read_pcap(&s.path("sgi-out.pcap"));
    assert_eq!(sgi.len(), 10);
    for frame in &sgi {
        let parsed = etherparse::SlicedPacket::from_ethernet(frame).expect("inner packet");
        let Some(etherparse::NetSlice::Ipv4(ip)) = parsed.net else { panic!("not IPv4") };
        assert_eq!(ip.header().source(), [10, 45, 0, 2]);
        assert_eq!(ip.header().destination(), [203, 0, 113, 53]);
    }
    let control = &counters["fastpath"]["control"]["thread"];
    assert_eq!(control["signalling_received"], 1);
    assert_eq!(control["signalling_sent"], 1);
}

#[test]
fn ipv6_pbu_is_accepted_with_a_prefix_and_an_uplink_key() {
    let s = Scenario::new("lma-v6");
    let v = vectors();
    run_lma(&s, &[v[0].clone()]); // V1: initial PBU over IPv6, HNP ::/0, GRE key (downlink)
    let rows = pbas(&s, &["ipv6.src", "ipv6.dst", "mip6.ba.status", "mip6.gre_key", "mip6.mnid.identifier", "mip6.hi"]);
    assert_eq!(rows.len(), 1, "one PBA: {rows:?}");
    let pba = &rows[0];
    assert_eq!(&pba[0..2], ["2001:db8:2::1", "2001:db8:1::1"]);
    assert_eq!(pba[2], "0", "accepted");
    assert_eq!(pba[3], FIRST_UPLINK_KEY.to_string());
    assert_eq!(pba[4], "001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org", "MN-ID echoed");
    assert_eq!(pba[5], "1", "HI echoed");
    // Wireshark decodes the Home Network Prefix option with its NEMO Mobile Network Prefix fields.
    let hnp = &pbas(&s, &["mip6.nemo.mnp.mnp", "mip6.nemo.mnp.pfl"])[0];
    assert_eq!(hnp[1], "64", "a /64");
    let prefix: std::net::Ipv6Addr = hnp[0].parse().expect("an IPv6 prefix");
    assert_eq!(prefix.segments()[..3], [0x2001, 0x0db8, 0xaaaa], "from the APN's pool 2001:db8:aaaa::/48");
    assert_eq!(prefix.segments()[4..], [0, 0, 0, 0], "a /64 network address");
}
