//! `pmipctl` against a running LMA gateway on net_pcap: every subcommand an LMA serves, in human and `--json`
//! form, errors that say what was wrong, a malformed request on the socket, and a revocation that reaches the wire.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAI: &str = "001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org";

struct Gateway {
    child: Child,
    socket: std::path::PathBuf,
}

impl Gateway {
    /// Starts an LMA that reads the shared V1 PBU and then keeps running until stopped.
    fn start_lma(s: &Scenario) -> Gateway {
        let vectors =
            read_pcap(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/pmipv6_vectors.pcap"));
        write_pcap(&s.path("core-in.pcap"), &[vectors[0].clone()]);
        write_pcap(&s.path("empty.pcap"), &[]);
        let socket = s.path("api.sock");
        let config = format!(
            "{dpdk}[gateway]\nlmaa = [\"2001:db8:2::1\"]\ntable_capacity = 1024\n\n\
             [[port]]\nname = \"core\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={core_in},tx_pcap={core_out}\"\n\
             roles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:c0:01\"\n\n\
             [[port]]\nname = \"sgi\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={empty},tx_pcap={sgi_out}\"\n\
             roles = [\"sgi\"]\nnext_hop_mac = \"02:00:00:00:5a:01\"\n\
             [[port.neighbor]]\nip = \"203.0.113.10\"\nmac = \"02:00:00:00:5a:0a\"\n\n\
             [lma]\nallowed_mags = [\"2001:db8:1::/64\"]\nuplink_keys = {{ first = 0x0a0b0c0d, last = 0x0a0bffff }}\n\
             timestamp_validity_window_ms = 315360000000\nmax_bindings = 1024\n\
             [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:aaaa::/48\"\n\n\
             [api]\nsocket = \"{socket}\"\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\
             [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n",
            // No idle exit: the gateway runs until it is sent SIGTERM.
            dpdk = s.dpdk_section().replace("exit_when_idle_ms = 300\n", ""),
            core_in = s.path("core-in.pcap").display(),
            core_out = s.path("core-out.pcap").display(),
            empty = s.path("empty.pcap").display(),
            sgi_out = s.path("sgi-out.pcap").display(),
            socket = socket.display(),
            restart = s.path("restart-counter").display(),
            metrics_port = metrics_port(),
        );
        let gateway = Gateway::spawn(s, &config, socket);
        // Ready once the PBU has made a binding.
        let started = Instant::now();
        loop {
            let out = gateway.ctl(&["--json", "bindings"]);
            if out.status.success() && json_of(&out)["bindings"].as_array().is_some_and(|b| b.len() == 1) {
                return gateway;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the gateway did not come up: {}", text(&out));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(s: &Scenario, config: &str, socket: std::path::PathBuf) -> Gateway {
        let config_path = s.write_config(config);
        let child = Command::new(env!("CARGO_BIN_EXE_pmipgw"))
            .args(["-c", config_path.to_str().unwrap(), "--counters-json", s.path("counters.json").to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning pmipgw");
        Gateway { child, socket }
    }

    /// Waits until the management socket answers.
    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let out = self.ctl(&["stats"]);
            if out.status.success() {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the gateway did not come up: {}", text(&out));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_pmipctl"))
            .args(["--socket", self.socket.to_str().unwrap(), "--timeout", "10"])
            .args(args)
            .output()
            .expect("running pmipctl")
    }

    /// SIGTERM, then the exit status and stdout.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(20), "pmipgw ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stdout).unwrap();
        }
        (status, stdout)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A loopback port for this test process's metrics endpoint (tests of other processes use other ports).
fn metrics_port() -> u16 {
    20_000 + (std::process::id() % 20_000) as u16
}

/// `GET /metrics` over plain HTTP/1.1.
fn scrape_metrics() -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics_port())).expect("metrics endpoint");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    response
}

/// The value of the sample named with its labels, e.g. `name{label="x"}`.
fn sample_value(metrics: &str, series: &str) -> f64 {
    let line = metrics.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series}: {metrics}"));
    line[series.len()..].trim().parse().unwrap_or_else(|_| panic!("not a number: {line}"))
}

/// Every metric the Grafana dashboard's queries name is a family the gateway exports (a histogram's
/// `_bucket`, `_sum` and `_count` series belong to it).
fn dashboard_queries_name_exported_metrics(metrics: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/pmipgw-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut families = std::collections::HashMap::new();
    for line in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').unwrap();
        families.insert(name.to_owned(), kind.to_owned());
    }
    let mut queries = Vec::new();
    collect_exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 15, "the dashboard's queries: {queries:?}");
    let mut named = std::collections::BTreeSet::new();
    for query in &queries {
        let mut rest = query.as_str();
        while let Some(at) = rest.find("pmipgw_") {
            let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| families.get(*base).is_some_and(|kind| kind == "histogram"))
                .unwrap_or(&name);
            assert!(families.contains_key(family), "the dashboard queries {name}, which is not exported: {query}");
            named.insert(family.to_owned());
        }
    }
    // The panels the operators asked for are there.
    for family in [
        "pmipgw_bindings",
        "pmipgw_signalling_messages_total",
        "pmipgw_drops_total",
        "pmipgw_port_rx_packets_total",
        "pmipgw_port_tx_bytes_total",
        "pmipgw_worker_busy_seconds_total",
        "pmipgw_signalling_latency_seconds",
    ] {
        assert!(named.contains(family), "no dashboard query uses {family}: {named:?}");
    }
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(out.status.success(), "pmipctl failed: {}", text(&out));
    out
}

#[test]
fn pmipctl_drives_a_running_lma() {
    let s = Scenario::new("pmipctl");
    let gw = Gateway::start_lma(&s);

    // bindings: human and JSON, all / by MN-ID / by key / matching nothing.
    let human = text(&ok(gw.ctl(&["bindings"])));
    assert!(human.contains(NAI) && human.contains("2001:db8:1::1"), "{human}");
    let all = json_of(&ok(gw.ctl(&["--json", "bindings"])));
    let binding = &all["bindings"][0];
    assert_eq!(binding["uplink_key"], 0x0a0b0c0d);
    assert_eq!(binding["downlink_key"], 0x00010001, "the MAG's key from the PBU");
    assert!(binding["counters"].is_object(), "the fast path's per-binding counters are filled in: {binding}");
    let by_mn = json_of(&ok(gw.ctl(&["--json", "bindings", "--mn-id", NAI])));
    assert_eq!(by_mn["bindings"].as_array().unwrap().len(), 1);
    let by_key = json_of(&ok(gw.ctl(&["--json", "bindings", "--key", "0x0a0b0c0d"])));
    assert_eq!(by_key["bindings"].as_array().unwrap().len(), 1);
    let none = gw.ctl(&["--json", "bindings", "--mn-id", "nobody@example.org"]);
    assert!(!none.status.success(), "showing an unknown MN is an error");
    assert!(text(&none).contains("nobody@example.org"), "naming what was asked for: {}", text(&none));

    // stats: signalling and the data plane.
    let stats = json_of(&ok(gw.ctl(&["--json", "stats"])));
    assert_eq!(stats["bindings"], 1);
    let ports: Vec<_> = stats["dataplane"]["ports"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(ports, ["core", "sgi"]);
    let human = text(&ok(gw.ctl(&["stats"])));
    assert!(human.to_lowercase().contains("pba"), "{human}");

    // peers.
    let peers = json_of(&ok(gw.ctl(&["--json", "peers"])));
    assert!(peers["peers"].to_string().contains("2001:db8:1::1"), "{peers}");
    ok(gw.ctl(&["peers"]));

    // neighbours: the gateway's own table (not the procedures'): the static SGi entry from the config.
    let neighbours = json_of(&ok(gw.ctl(&["--json", "neighbours"])));
    let entry = &neighbours["neighbours"][0];
    assert_eq!(
        (entry["port"].as_str(), entry["address"].as_str(), entry["mac"].as_str(), entry["state"].as_str()),
        (Some("sgi"), Some("203.0.113.10"), Some("02:00:00:00:5a:0a"), Some("static")),
        "{neighbours}"
    );
    assert!(text(&ok(gw.ctl(&["neighbours"]))).contains("203.0.113.10"));

    // workers: one, owning the one key handed out; nothing to steer with one worker.
    let workers = json_of(&ok(gw.ctl(&["--json", "workers"])));
    let worker = &workers["workers"][0];
    assert_eq!((worker["worker"].as_u64(), worker["keys_owned"].as_u64()), (Some(0), Some(1)), "{workers}");
    assert!(worker["rx_packets"].as_u64().unwrap() >= 1, "the PBU came in through worker 0: {workers}");
    assert!(worker["busy_percent"].as_u64().unwrap() <= 100);
    assert_eq!(workers["steering"][0], serde_json::json!({ "port": "core", "steering": "none" }));
    let human = text(&ok(gw.ctl(&["workers"])));
    assert!(human.contains("KEYS") && human.contains("port core: steering none"), "{human}");

    // keys: reserve, list, release; errors say what was wrong.
    ok(gw.ctl(&["keys", "reserve", "--key", "0x1234", "--mn-id", "other@example.org", "--apn", "internet"]));
    let keys = json_of(&ok(gw.ctl(&["--json", "keys", "list"])));
    assert!(keys["reservations"].to_string().contains("4660"), "{keys}");
    ok(gw.ctl(&["keys", "list"]));
    let taken = gw.ctl(&["keys", "reserve", "--key", "0x0a0b0c0d", "--mn-id", "x@example.org", "--apn", "internet"]);
    assert!(!taken.status.success(), "a key in use cannot be reserved: {}", text(&taken));
    ok(gw.ctl(&["keys", "release", "--key", "0x1234"]));
    let again = gw.ctl(&["keys", "release", "--key", "0x1234"]);
    assert!(!again.status.success(), "releasing twice is an error");
    assert!(!text(&again).trim().is_empty(), "and it says why");
    let bad_key = gw.ctl(&["keys", "reserve", "--key", "zz", "--mn-id", "x@example.org", "--apn", "internet"]);
    assert!(!bad_key.status.success() && text(&bad_key).contains("zz"), "{}", text(&bad_key));

    // A malformed request on the socket gets an error reply, and the server goes on serving.
    let mut stream = UnixStream::connect(&gw.socket).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"{\"command\": \"no-such-command\"}\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let reply: serde_json::Value = serde_json::from_str(&line).expect("a JSON reply");
    assert_eq!(reply["result"], "error", "{reply}");
    drop(stream);

    // MAG-only commands are refused by an LMA with a reason.
    let pdn = gw.ctl(&["pdn", "delete", "--mn-id", NAI, "--apn", "internet"]);
    assert!(!pdn.status.success() && !text(&pdn).trim().is_empty());

    // Prometheus: the same state, scraped over HTTP.
    let metrics = scrape_metrics();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("pmipgw_bindings{role=\"lma\"} 1"), "{metrics}");
    assert!(metrics.contains("pmipgw_port_rx_packets_total{port=\"core\"}"), "{metrics}");
    // The one PBU was answered: one exchange in the latency histogram; the worker that read it was busy.
    assert!(metrics.contains("pmipgw_signalling_latency_seconds_count{role=\"lma\"} 1\n"), "{metrics}");
    let busy = sample_value(&metrics, "pmipgw_worker_busy_seconds_total{worker=\"0\"}");
    assert!(busy > 0.0 && busy < 10.0, "worker 0 busy {busy} s: {metrics}");
    dashboard_queries_name_exported_metrics(&metrics);

    // Revocation: the LMA sends a BRI to the MAG.
    ok(gw.ctl(&["binding", "revoke", "--mn-id", NAI]));
    std::thread::sleep(Duration::from_millis(300));

    let (status, stdout) = gw.stop();
    assert!(status.success(), "clean exit on SIGTERM: {stdout}");
    assert!(stdout.contains("mbufs in use after shutdown") && stdout.contains("mempool: 0 of"), "{stdout}");
    let bri = Command::new("tshark")
        .args(["-n", "-r", s.path("core-out.pcap").to_str().unwrap(), "-Y", "mip6.mhtype == 16", "-T", "fields"])
        .args(["-e", "mip6.bri_br.type", "-e", "mip6.mnid.identifier"])
        .output()
        .expect("tshark");
    let bri = String::from_utf8_lossy(&bri.stdout);
    assert!(bri.lines().any(|l| l.starts_with('1') && l.contains(NAI)), "a BRI for the MN on the wire: {bri:?}");
}

#[test]
fn pdn_create_on_a_mag_puts_a_pbu_on_the_core_link() {
    let s = Scenario::new("pmipctl-mag");
    write_pcap(&s.path("empty.pcap"), &[]);
    let socket = s.path("api.sock");
    let config = format!(
        "{dpdk}[gateway]\nproxy_coa = [\"2001:db8:1::1\"]\ntable_capacity = 1024\n\n\
         [[port]]\nname = \"core\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={empty},tx_pcap={core_out}\"\n\
         roles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:c0:02\"\n\n\
         [[port]]\nname = \"access\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={empty},tx_pcap={access_out}\"\n\
         roles = [\"access\"]\nnext_hop_mac = \"02:00:00:00:ac:01\"\n\n\
         [mag]\nlocal_ipv6 = \"2001:db8:1::1\"\ndownlink_keys = {{ first = 0x00010001, last = 0x0001ffff }}\n\
         max_bindings = 1024\n[mag.heartbeat]\nrestart_counter_file = \"{restart}\"\n\
         [api]\nsocket = \"{socket}\"\n[metrics]\nenabled = false\n",
        dpdk = s.dpdk_section().replace("exit_when_idle_ms = 300\n", ""),
        empty = s.path("empty.pcap").display(),
        core_out = s.path("core-out.pcap").display(),
        access_out = s.path("access-out.pcap").display(),
        restart = s.path("restart-counter").display(),
        socket = socket.display(),
    );
    let gw = Gateway::spawn(&s, &config, socket);
    gw.wait_ready();
    let created = gw.ctl(&[
        "pdn",
        "create",
        "--mn-id",
        NAI,
        "--apn",
        "internet",
        "--pdn-type",
        "ipv4v6",
        "--lma",
        "2001:db8:2::1",
        "--no-wait",
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let listed = json_of(&ok(gw.ctl(&["--json", "bindings"])));
    assert_eq!(listed["bindings"][0]["downlink_key"], 0x00010001, "the MAG chose its downlink key: {listed}");
    std::thread::sleep(Duration::from_millis(300));
    let (status, stdout) = gw.stop();
    assert!(status.success(), "{stdout}");

    let pbu = Command::new("tshark")
        .args(["-n", "-r", s.path("core-out.pcap").to_str().unwrap(), "-Y", "mip6.mhtype == 5", "-T", "fields"])
        .args(["-E", "separator=|", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "mip6.mnid.identifier"])
        .args(["-e", "mip6.hi", "-e", "mip6.att", "-e", "mip6.gre_key", "-e", "mip6.ss.identifier"])
        .args(["-e", "mip6.nemo.mnp.pfl", "-e", "mip6.ipv4ha.ha"])
        .output()
        .expect("tshark");
    let pbu = String::from_utf8_lossy(&pbu.stdout);
    let first: Vec<&str> =
        pbu.lines().next().unwrap_or_else(|| panic!("no PBU on the wire: {stdout}")).split('|').collect();
    assert_eq!(first[..2], ["2001:db8:1::1", "2001:db8:2::1"]);
    assert_eq!(first[2], NAI);
    assert_eq!(first[3], "1", "HI: attachment over a new interface");
    assert_eq!(first[4], "8", "ATT: E-UTRAN");
    assert_eq!(first[5], "65537", "GRE Key option with the downlink key (TS 29.275 §6.1: always present)");
    assert_eq!(first[6], "internet");
    assert_eq!(first[7], "0", "HNP ::/0 asks the LMA for a prefix");
    assert_eq!(first[8], "0.0.0.0", "IPv4 HoA Request 0.0.0.0 asks for an address");
}
