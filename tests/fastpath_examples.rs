//! The shipped fast-path examples (deploy/demo-pcap.sh runs them) do what their comments say: forwarding, the
//! listed drops and punts, per-binding counters, and no mbuf left in use.

mod common;

use common::*;
use std::path::Path;

/// Runs `deploy/examples/<name>` from the repository root with its outputs and EAL prefix moved into a scratch
/// directory, and returns the printed report and the counters.
fn run_example(name: &str) -> (String, serde_json::Value, Scenario) {
    let s = Scenario::new(name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/examples").join(name)).expect("example config");
    let example_prefix = text.split("\"--file-prefix\", \"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let text = text
        .replace("/tmp/pmipgw-example/", &format!("{}/", s.dir.path().display()))
        .replace(example_prefix, &s.prefix)
        .replace("deploy/examples/pcap/", &format!("{}/deploy/examples/pcap/", root.display()));
    let config = s.write_config(&text);
    let json = s.path("counters.json");
    let out = run_gateway(&["-c", config.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]);
    let stdout = expect_success(&out);
    (stdout, read_json(&json), s)
}

fn drops(counters: &serde_json::Value) -> Vec<(String, u64)> {
    let all = counters["fastpath"]["total"]["drops"].as_object().unwrap();
    all.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).filter(|(_, n)| *n != 0).collect()
}

#[test]
fn lma_example() {
    let (stdout, c, s) = run_example("lma-pcap.toml");
    let total = &c["fastpath"]["total"];
    assert_eq!(total["encapsulated"], 200, "{stdout}");
    assert_eq!(total["decapsulated"], 201, "200 plus one with GRE checksum and sequence number");
    assert_eq!(total["punted"], 2, "a PBU and an echo request");
    assert_eq!(c["fastpath"]["punts_received"], 2);
    let expected: Vec<(String, u64)> =
        // The first fragment of an outer IPv6 packet, its length no multiple of 8: no datagram can have it.
        ["reassembly-invalid", "gre-version", "unknown-key", "inner-source-mismatch", "no-binding", "ttl-expired"]
            .iter()
            .map(|r| (r.to_string(), 1))
            .collect();
    let mut got = drops(&c);
    got.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(got, expected);
    assert!(stdout.contains("drop inner-source-mismatch    1"), "{stdout}");
    assert!(stdout.contains("binding 0 (lma 10.45.0.2 2001:db8:aaaa:1::/64): uplink 100 pkts"), "{stdout}");
    assert_eq!(c["mempool"]["in_use_after_shutdown"], 0);
    assert_eq!(read_pcap(&s.path("lma-core-out.pcap")).len(), 200);
    assert_eq!(read_pcap(&s.path("lma-sgi-out.pcap")).len(), 201);
}

#[test]
fn mag_example() {
    let (stdout, c, s) = run_example("mag-pcap.toml");
    let total = &c["fastpath"]["total"];
    assert_eq!((total["encapsulated"].as_u64(), total["decapsulated"].as_u64()), (Some(200), Some(200)), "{stdout}");
    assert_eq!(drops(&c), vec![("no-binding".to_owned(), 1), ("unknown-key".to_owned(), 1)]);
    assert_eq!(c["mempool"]["in_use_after_shutdown"], 0);
    assert_eq!(read_pcap(&s.path("mag-core-out.pcap")).len(), 200);
    assert_eq!(read_pcap(&s.path("mag-access-out.pcap")).len(), 200);
}
