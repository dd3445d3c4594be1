//! The LMA keeps its bindings across a `kill -9`: the real binary on net_pcap accepts a PBU, is killed once the
//! binding is in its journal, and the next start forwards that binding's GRE uplink from its first packet, with
//! no PBU exchanged, the same uplink key and the same RFC 5847 restart counter. A `--discard-state` start then
//! increments the counter and tells the MAG at once with an unsolicited Heartbeat Response (tshark decodes it).

mod common;

use common::*;
use controlplane::durable::{journal, Owner, Record};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FIRST_UPLINK_KEY: u32 = 0x0a0b_0c0d;

fn vectors() -> Vec<Vec<u8>> {
    read_pcap(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/pmipv6_vectors.pcap"))
}

fn config(s: &Scenario, run: &str, idle_exit: bool) -> std::path::PathBuf {
    let dpdk = s.dpdk_section();
    let dpdk = if idle_exit { dpdk } else { dpdk.replace("exit_when_idle_ms = 300\n", "") };
    let body = format!(
        "{dpdk}[gateway]\nlmaa = [\"2001:db8:2::1\", \"198.51.100.1\"]\ntable_capacity = 1024\n\n\
         [[port]]\nname = \"core\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={core_in},tx_pcap={core_out}\"\n\
         roles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:c0:01\"\n\n\
         [[port]]\nname = \"sgi\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={empty},tx_pcap={sgi_out}\"\n\
         roles = [\"sgi\"]\nnext_hop_mac = \"02:00:00:00:5a:01\"\n\n\
         [lma]\nallowed_mags = [\"2001:db8:1::/64\", \"192.0.2.0/24\"]\n\
         uplink_keys = {{ first = {FIRST_UPLINK_KEY}, last = 0x0a0bffff }}\n\
         timestamp_validity_window_ms = 315360000000\nmax_bindings = 1024\ndefault_apn = \"internet\"\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/48\"\nipv4_pool = \"10.45.0.0/16\"\n\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n\
         [api]\nsocket = \"{socket}\"\n[metrics]\nenabled = false\n",
        core_in = s.path(&format!("{run}-core-in.pcap")).display(),
        core_out = s.path(&format!("{run}-core-out.pcap")).display(),
        empty = s.path("empty.pcap").display(),
        sgi_out = s.path(&format!("{run}-sgi-out.pcap")).display(),
        restart = s.path("restart-counter").display(),
        socket = s.path(&format!("{run}.sock")).display(),
    );
    let path = s.path(&format!("{run}.toml"));
    std::fs::write(&path, body).unwrap();
    path
}

fn restart_counter(s: &Scenario) -> String {
    std::fs::read_to_string(s.path("restart-counter")).unwrap().trim().to_owned()
}

/// tshark's rows of `filter` in a capture, `fields` separated by '|'.
fn tshark(path: &std::path::Path, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r", path.to_str().unwrap(), "-Y", filter, "-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark must be installed (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn a_killed_lma_forwards_its_bindings_again_without_signalling_and_a_discarded_state_is_announced() {
    let s = Scenario::new("lma-restart");
    let v = vectors();
    let (pbu, gre_uplink) = (&v[3], &v[10]); // V4: PBU over IPv4-UDP; V9: GRE over IPv4 with key 0x0a0b0c0d
    write_pcap(&s.path("empty.pcap"), &[]);
    let journal_file = s.path("lma.journal");

    // First life: the PBU makes a binding; once the journal holds it, kill -9.
    write_pcap(&s.path("first-core-in.pcap"), std::slice::from_ref(pbu));
    let first = config(&s, "first", false);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pmipgw"))
        .args(["-c", first.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pmipgw");
    let started = Instant::now();
    let bound = loop {
        let loaded = journal::load(&journal_file, Owner::Lma).ok().flatten();
        let bces: Vec<u32> = loaded
            .iter()
            .flat_map(|l| &l.restored.records)
            .filter_map(|r| match r {
                Record::Bce(b) => Some(b.uplink_key),
                _ => None,
            })
            .collect();
        if !bces.is_empty() {
            break bces;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the binding never reached the journal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What `pmipctl state` shows of it, human and JSON.
    let ctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pmipctl"))
            .args(["--socket", s.path("first.sock").to_str().unwrap(), "--timeout", "10"])
            .args(args)
            .output()
            .expect("pmipctl");
        assert!(out.status.success(), "pmipctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let state: serde_json::Value = serde_json::from_str(&ctl(&["--json", "state"])).expect("JSON");
    assert_eq!(state["durable"], true, "{state}");
    assert_eq!(state["journal"]["path"], journal_file.display().to_string());
    assert!(state["journal"]["commits"].as_u64().unwrap() >= 1, "{state}");
    assert_eq!(state["messages_held"], 0, "the PBA left once its binding was durable");
    let text = ctl(&["state"]);
    assert!(
        text.contains("durable state: ") && text.contains("lma.journal") && text.contains("restart counter: 1"),
        "{text}"
    );
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    child.wait().unwrap();
    assert_eq!(bound, vec![FIRST_UPLINK_KEY]);
    assert_eq!(restart_counter(&s), "1");

    // Second life: only GRE uplink with the binding's key, from the first frame on.
    write_pcap(&s.path("second-core-in.pcap"), &vec![gre_uplink.clone(); 10]);
    let second = config(&s, "second", true);
    let json = s.path("second-counters.json");
    expect_success(&run_gateway(&["-c", second.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]));
    let counters = read_json(&json);
    assert_eq!(
        counters["fastpath"]["total"]["decapsulated"], 10,
        "every uplink packet: {}",
        counters["fastpath"]["total"]
    );
    assert!(
        counters["fastpath"]["total"]["drops"]["no-binding"].as_u64().unwrap_or(0) == 0,
        "{}",
        counters["fastpath"]["total"]
    );
    assert_eq!(read_pcap(&s.path("second-sgi-out.pcap")).len(), 10);
    let signalling = tshark(&s.path("second-core-out.pcap"), "mip6.mhtype", &["mip6.mhtype"]);
    assert!(signalling.is_empty(), "a warm start exchanges no signalling: {signalling:?}");
    assert_eq!(restart_counter(&s), "1", "the state survived, so the counter did not move (RFC 5847 §5.3)");

    // Third life: the operator discards the state. The MAG hears the new counter at once.
    write_pcap(&s.path("third-core-in.pcap"), &vec![gre_uplink.clone(); 10]);
    let third = config(&s, "third", true);
    let json = s.path("third-counters.json");
    let args = ["-c", third.to_str().unwrap(), "--discard-state", "--counters-json", json.to_str().unwrap()];
    let log = expect_success(&run_gateway(&args));
    let counters = read_json(&json);
    assert_eq!(counters["fastpath"]["total"]["decapsulated"], 0, "no binding any more");
    assert_eq!(restart_counter(&s), "2");
    let notices = tshark(
        &s.path("third-core-out.pcap"),
        "mip6.mhtype == 13",
        &["ip.dst", "mip6.hb.u_flag", "mip6.hb.r_flag", "mip6.rc"],
    );
    assert_eq!(notices, vec!["192.0.2.1|1|1|2".to_owned()], "one unsolicited Heartbeat Response to the MAG: {log}");
}
