//! Foundation: the real binary forwards frames between net_pcap ports, every frame out in order on the right
//! port, identical except the MAC rewrite, and no mbuf is left in use.

mod common;

use common::*;
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

/// `count` UDP/IPv4 and UDP/IPv6 frames with varied sizes and a sequence number in the payload.
fn frames(count: usize, tag: u8) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let builder = PacketBuilder::ethernet2([2, 0, 0, 0, tag, 1], [2, 0, 0, 0, tag, 2]);
            let mut payload = (i as u32).to_be_bytes().to_vec();
            payload.resize(4 + (i * 7) % 1200, tag);
            let mut frame = Vec::new();
            if i % 3 == 0 {
                let b = builder
                    .ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, tag], [0xfe; 16], 64)
                    .udp(5000 + i as u16, 7);
                b.write(&mut frame, &payload).unwrap();
            } else {
                let b = builder.ipv4([10, 0, tag, 1], [10, 0, tag, 2], 64).udp(5000 + i as u16, 7);
                b.write(&mut frame, &payload).unwrap();
            }
            frame
        })
        .collect()
}

/// Checks that `got` are `sent` in order, each identical but for the destination and source MAC.
fn assert_forwarded(sent: &[Vec<u8>], got: &[Vec<u8>], dst: [u8; 6], src: [u8; 6], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: every frame comes out");
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        assert_eq!(&g[0..6], &dst, "{what}: frame {i} destination MAC");
        assert_eq!(&g[6..12], &src, "{what}: frame {i} source MAC");
        assert_eq!(&g[12..], &s[12..], "{what}: frame {i} unchanged after the MAC addresses");
        // Independent decode: the UDP payload still starts with the frame's sequence number.
        let parsed = SlicedPacket::from_ethernet(g).unwrap_or_else(|e| panic!("{what}: frame {i}: {e}"));
        let Some(TransportSlice::Udp(udp)) = parsed.transport else { panic!("{what}: frame {i} is not UDP") };
        assert_eq!(&udp.payload()[..4], &(i as u32).to_be_bytes(), "{what}: frame {i} in order");
    }
}

#[test]
fn forwards_every_frame_both_ways_with_mac_rewrite() {
    let s = Scenario::new("l2fwd");
    let a_in = frames(1500, 0xa);
    let b_in = frames(700, 0xb);
    write_pcap(&s.path("a-rx.pcap"), &a_in);
    write_pcap(&s.path("b-rx.pcap"), &b_in);
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={},tx_pcap={}\"\nforward_to = \"b\"\n\
         next_hop_mac = \"02:00:00:00:aa:01\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={},tx_pcap={}\"\nforward_to = \"a\"\n\
         next_hop_mac = \"02:00:00:00:bb:01\"\n",
        s.dpdk_section(),
        s.path("a-rx.pcap").display(),
        s.path("a-tx.pcap").display(),
        s.path("b-rx.pcap").display(),
        s.path("b-tx.pcap").display(),
    );
    let config_path = s.write_config(&config);
    let json_path = s.path("counters.json");
    let out = run_gateway(&["--config", config_path.to_str().unwrap(), "--counters-json", json_path.to_str().unwrap()]);
    let stdout = expect_success(&out);
    assert!(stdout.contains("mempool: 0 of 4095 mbufs in use after shutdown"), "{stdout}");

    let counters = read_json(&json_path);
    assert_eq!(counters["exit"], "idle");
    assert_eq!(counters["mempool"]["in_use_after_shutdown"], 0, "no mbuf leaked");
    let runtime_dir = std::path::Path::new("/var/run/dpdk").join(&s.prefix);
    assert!(!runtime_dir.exists(), "EAL's runtime directory {} is left behind", runtime_dir.display());
    let mac_of = |name: &str| {
        let port = counters["ports"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        mac(port["mac"].as_str().unwrap())
    };

    // Frames from a leave on b (b's MAC as source, b's next hop as destination), and vice versa.
    assert_forwarded(&a_in, &read_pcap(&s.path("b-tx.pcap")), mac("02:00:00:00:bb:01"), mac_of("b"), "a -> b");
    assert_forwarded(&b_in, &read_pcap(&s.path("a-tx.pcap")), mac("02:00:00:00:aa:01"), mac_of("a"), "b -> a");

    let paths = counters["paths"].as_array().unwrap();
    let a_to_b = paths.iter().find(|p| p["from"] == "a").unwrap();
    assert_eq!(a_to_b["rx_packets"], 1500);
    assert_eq!(a_to_b["tx_packets"], 1500);
    assert_eq!(a_to_b["tx_dropped"], 0);
    let a_bytes: usize = a_in.iter().map(Vec::len).sum();
    assert_eq!(a_to_b["tx_bytes"], a_bytes as u64);
}

#[test]
fn runt_frames_are_dropped_and_counted() {
    let s = Scenario::new("runt");
    let mut input = frames(10, 0xc);
    input.insert(5, vec![0x02; 10]); // shorter than an Ethernet header
    write_pcap(&s.path("rx.pcap"), &input);
    write_pcap(&s.path("empty.pcap"), &[]);
    let config = format!(
        "{}[[port]]\nname = \"in\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={},tx_pcap={}\"\nforward_to = \"out\"\n\n\
         [[port]]\nname = \"out\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={},tx_pcap={}\"\n",
        s.dpdk_section(),
        s.path("rx.pcap").display(),
        s.path("in-tx.pcap").display(),
        s.path("empty.pcap").display(),
        s.path("out-tx.pcap").display(),
    );
    let config_path = s.write_config(&config);
    let json_path = s.path("counters.json");
    let out = run_gateway(&["-c", config_path.to_str().unwrap(), "--counters-json", json_path.to_str().unwrap()]);
    expect_success(&out);
    let counters = read_json(&json_path);
    assert_eq!(counters["paths"][0]["rx_packets"], 11);
    assert_eq!(counters["paths"][0]["runt_dropped"], 1);
    assert_eq!(counters["paths"][0]["tx_packets"], 10);
    assert_eq!(read_pcap(&s.path("out-tx.pcap")).len(), 10);
    assert_eq!(counters["mempool"]["in_use_after_shutdown"], 0);
}
