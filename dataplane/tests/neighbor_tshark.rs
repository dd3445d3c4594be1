//! The neighbour-discovery frames the gateway builds, decoded by tshark: field values as we meant them, checksums
//! correct, and no expert warnings.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Duration;

use dataplane::neighbor::{arp, ndp};
use dataplane::wire::ethernet::MacAddr;
use pcap_file::pcap::{PcapPacket, PcapWriter};

const GATEWAY: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const HOST: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);

/// Runs tshark over `frames` and returns, per frame, the requested fields.
fn tshark(frames: &[Vec<u8>], fields: &[&str], filter: Option<&str>) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("frames.pcap");
    let mut writer = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        writer.write_packet(&PcapPacket::new(Duration::from_millis(i as u64), frame.len() as u32, frame)).unwrap();
    }
    drop(writer);
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r", path.to_str().unwrap(), "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]);
    if let Some(filter) = filter {
        cmd.args(["-Y", filter]);
    }
    for field in fields {
        cmd.args(["-e", field]);
    }
    let out = cmd.output().expect("tshark must be installed (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_owned).collect()).collect()
}

#[test]
fn arp_request_and_reply_decode_in_tshark() {
    let gw_ip = Ipv4Addr::new(192, 0, 2, 1);
    let host_ip = Ipv4Addr::new(192, 0, 2, 2);
    let request = arp::request(HOST, host_ip, gw_ip);
    let reply = arp::reply_to(&arp::parse(&request).unwrap(), GATEWAY, gw_ip).expect("asks for us");
    let rows = tshark(
        &[request.to_vec(), reply.to_vec()],
        &["arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4", "eth.dst"],
        None,
    );
    assert_eq!(rows[0], ["1", "02:00:00:00:00:02", "192.0.2.2", "00:00:00:00:00:00", "192.0.2.1", "ff:ff:ff:ff:ff:ff"]);
    assert_eq!(rows[1], ["2", "02:00:00:00:00:01", "192.0.2.1", "02:00:00:00:00:02", "192.0.2.2", "02:00:00:00:00:02"]);
}

#[test]
fn ndp_messages_decode_in_tshark_with_good_checksums() {
    let gw_ip: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let host_ip: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let ns = ndp::neighbor_solicitation(HOST, &host_ip, &gw_ip);
    let na = ndp::reply_to_solicitation(&ndp::parse(&ns).unwrap(), GATEWAY, &[gw_ip], true).expect("ours");
    let advert = ndp::RouterAdvertisement {
        router_lifetime_s: 1800,
        source_link_addr: Some(GATEWAY),
        mtu: Some(1452),
        prefixes: vec![ndp::PrefixInfo {
            prefix: "2001:db8:aaaa:1::".parse().unwrap(),
            len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime_s: 86400,
            preferred_lifetime_s: 14400,
        }],
    };
    let ra = ndp::router_advertisement(
        GATEWAY,
        &ndp::link_local_from_mac(GATEWAY),
        HOST,
        &"fe80::2".parse().unwrap(),
        &advert,
    );
    let frames = [ns, na, ra];
    let rows = tshark(
        &frames,
        &[
            "icmpv6.type",
            "icmpv6.checksum.status",
            "icmpv6.nd.ns.target_address",
            "icmpv6.nd.na.target_address",
            "icmpv6.nd.na.flag.s",
            "icmpv6.opt.linkaddr",
            "icmpv6.opt.prefix",
            "icmpv6.opt.mtu",
            "ipv6.dst",
        ],
        None,
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], "135");
    assert_eq!(rows[0][2], "2001:db8:1::1");
    assert_eq!(rows[0][5], "02:00:00:00:00:02");
    assert_eq!(rows[0][8], "ff02::1:ff00:1", "solicited-node multicast");
    assert_eq!(rows[1][0], "136");
    assert_eq!(rows[1][3], "2001:db8:1::1");
    assert_eq!(rows[1][4], "1", "solicited");
    assert_eq!(rows[1][5], "02:00:00:00:00:01");
    assert_eq!(rows[1][8], "2001:db8:1::2");
    assert_eq!(rows[2][0], "134");
    assert_eq!(rows[2][6], "2001:db8:aaaa:1::");
    assert_eq!(rows[2][7], "1452");
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[1], "1", "frame {i}: tshark verified the ICMPv6 checksum");
    }
    let mut corrupt = frames[2].clone();
    *corrupt.last_mut().unwrap() ^= 0x01;
    assert_eq!(tshark(&[corrupt], &["icmpv6.checksum.status"], None)[0], ["0"], "and it does catch a bad one");
    let warnings = tshark(&frames, &["frame.number"], Some("_ws.expert.severity >= warning || _ws.malformed"));
    assert!(warnings.is_empty(), "expert warnings on frames {warnings:?}");
}
