//! The fast lane (`shape.rs`) decides only what the full parser would decide: on valid frames of every direction,
//! the shared vectors, and every one-byte corruption and truncation of them, both fill the same `Pending`.

use super::super::ingress::Pending;
use super::*;
use crate::binding::{Binding, BindingId, TunnelEndpoints};
use crate::packet::{PacketBuf, RxChecksum};

fn corpus() -> Vec<Vec<u8>> {
    let mut valid = vec![
        frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4(UE_B4, CN4, 64))),
        frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp6(UE_A6, CN6, 64))),
        frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp6(UE_A6, CN6, 64))),
        frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp4(UE_A4, CN4, 1))),
        frame4(LMAA4, PCOA4, 47, &gre_keyed(DL_B, &udp4(CN4, UE_B4, 64))),
        frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 64))),
        plain(&udp4(CN4, UE_B4, 64)),
        plain(&udp6(CN6, UE_A6, 64)),
        plain(&udp4(UE_B4, CN4, 64)),
        plain(&udp6(UE_A6, CN6, 64)),
    ];
    valid.extend(shared_vector_frames());
    let mut all = valid.clone();
    for frame in &valid {
        for at in 0..frame.len().min(110) {
            for flip in [0x01u8, 0x10, 0x80, 0xff] {
                let mut changed = frame.clone();
                changed[at] ^= flip;
                all.push(changed);
            }
        }
        for len in 0..frame.len() {
            all.push(frame[..len].to_vec());
        }
        // Link-layer padding behind the packet.
        let mut padded = frame.clone();
        padded.extend_from_slice(&[0; 18]);
        all.push(padded);
    }
    all
}

#[test]
fn fast_lane_and_full_parser_agree() {
    let gateway = Gateway::standard();
    let fast_path = &gateway.fast_path;
    let mut taken = 0;
    let mut frames = 0;
    for frame in corpus() {
        for port in [CORE, SGI, ACCESS] {
            for nic in [RxChecksum::Unknown, RxChecksum::Good, RxChecksum::Bad] {
                let context = fast_path.burst_context(port);
                let mut lane = Pending::default();
                let mut full = Pending::default();
                let took = fast_path.classify_common(context.roles, &frame, nic, &mut lane);
                fast_path.classify_any(context.roles, &frame, nic, &mut full);
                if took {
                    taken += 1;
                    assert_eq!(lane, full, "port {port}, {nic:?}, frame {frame:02x?}");
                } else {
                    assert_eq!(lane, Pending::default(), "a frame the lane leaves is untouched");
                }
                frames += 1;
            }
        }
    }
    // The lane is not a no-op: it takes the valid frames of every direction and many of their variants.
    assert!(taken > frames / 10, "the lane took {taken} of {frames}");
}

/// The express lane (`express.rs`) takes the ordinary packet of every direction and family; across the corpus —
/// every one-byte corruption, truncation and padding of them — on every port with every NIC checksum verdict, a
/// pipeline with the lane leaves the same frame, verdict and counters as one running the stages alone.
#[test]
fn express_lane_takes_the_ordinary_and_agrees_with_the_stages() {
    let express = Gateway::standard();
    let mut staged = Gateway::standard();
    staged.fast_path.set_schedule(Schedule::Stages);
    let corpus = corpus();
    // The corpus starts with the valid frames: LMA uplink (GRE on `core`; frame 1's inner source is another UE's,
    // frame 3's inner packet at the end of its TTL: the stages drop or answer those), MAG downlink (GRE on
    // `core`), LMA downlink (on `sgi`), MAG uplink (on `access`). The standard gateway binds each UE on both
    // functions, so only one of them holds the UE's direct position: take each function on its own.
    let lma = Gateway::new(&config(), &[lma_a(), lma_b()]);
    let mag = Gateway::new(&config(), &[mag_a(), mag_b()]);
    let ordinary = [
        (&lma, CORE, true),
        (&lma, CORE, false),
        (&lma, CORE, true),
        (&lma, CORE, false),
        (&mag, CORE, true),
        (&mag, CORE, true),
        (&lma, SGI, true),
        (&lma, SGI, true),
        (&mag, ACCESS, true),
        (&mag, ACCESS, true),
    ];
    for (at, (frame, (gateway, port, lane_takes))) in corpus.iter().zip(ordinary).enumerate() {
        let context = gateway.fast_path.burst_context(port);
        assert_eq!(gateway.fast_path.schedule(), Schedule::OnePass, "a table this small is run in one pass");
        let mut packet = VecPacket::new(frame);
        let mut tally = Tally { rx_bytes: 0, encapsulated: 0, decapsulated: 0, punted: 0 };
        let taken = gateway.fast_path.express(&context, &mut packet, &mut tally);
        assert_eq!(taken.is_some(), lane_takes, "frame {at} on port {port}");
        if taken.is_none() {
            assert_eq!(packet.data(), frame.as_slice(), "a frame the lane leaves is untouched");
        }
    }
    let mut compared = 0;
    for frame in &corpus {
        for port in [CORE, SGI, ACCESS] {
            for nic in [RxChecksum::Unknown, RxChecksum::Good, RxChecksum::Bad] {
                let run = |gateway: &Gateway| {
                    let mut packet = VecPacket::new(frame);
                    packet.rx_checksum = nic;
                    let (verdict, packet) = gateway.run_packet(port, packet);
                    (verdict, packet.data().to_vec(), packet.tx_ipv4_checksum_requested)
                };
                assert_eq!(run(&express), run(&staged), "port {port}, {nic:?}, frame {frame:02x?}");
                compared += 1;
            }
        }
    }
    assert_same_counts(&express, &staged, &format!("after {compared} frames"));
}

/// Two gateways that saw the same packets counted the same, per path, port, drop reason and binding; and both
/// ways went through.
fn assert_same_counts(with_lane: &Gateway, stages: &Gateway, what: &str) {
    let (mut lane_counts, mut stage_counts) = (with_lane.snapshot(), stages.snapshot());
    // Time apart, the two ICMP error budgets may split sent / rate-limited differently; their sum agrees.
    for counts in [&mut lane_counts, &mut stage_counts] {
        counts.icmp_errors_sent += std::mem::take(&mut counts.icmp_rate_limited);
        counts.busy_cycles = 0;
        counts.update_cycles = 0;
    }
    assert!(lane_counts.encapsulated > 0 && lane_counts.decapsulated > 0, "both ways went through");
    assert_eq!(lane_counts, stage_counts, "{what}");
    let bindings = |gateway: &Gateway| {
        (0..4).map(|slot| gateway.fast_path.counters().binding_snapshot(BindingId(slot))).collect::<Vec<_>>()
    };
    assert_eq!(bindings(with_lane), bindings(stages), "per-binding counters, {what}");
}

/// On an address that is both an LMAA and a Proxy-CoA, the LMA's binding comes first (`decap.rs`), even when its
/// uplink key is displaced from its home slot by a MAG binding with the same value as downlink key: the express
/// lane, which reads only home slots, leaves such a packet to the stages.
#[test]
fn express_lane_leaves_an_lma_key_displaced_on_a_shared_tunnel_address() {
    let both: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
    let mut config = config();
    config.lmaa.push(both.into());
    config.proxy_coa.push(both.into());
    let mag = Binding { tunnel: TunnelEndpoints::Ipv4 { local: both, remote: LMAA4 }, ..mag_b() };
    // Installed second: its uplink key, the MAG's downlink key, finds its home slot taken.
    let lma = Binding {
        tunnel: TunnelEndpoints::Ipv4 { local: both, remote: PCOA4 },
        uplink_key: mag.downlink_key,
        ..lma_a()
    };
    let express = Gateway::new(&config, &[mag, lma]);
    let mut staged = Gateway::new(&config, &[mag, lma]);
    staged.fast_path.set_schedule(Schedule::Stages);
    assert!(express.fast_path.tables().has_displaced_keys(), "the LMA's key is displaced");
    let frame = frame4(LMAA4, both, 47, &gre_keyed(DL_B, &udp4(UE_A4, CN4, 64)));
    let (verdict, packet) = express.run(CORE, &frame);
    assert_eq!(verdict, Verdict::Forward(SGI), "decapsulated as the LMA's uplink");
    assert_eq!((verdict, packet.data().to_vec()), {
        let (v, p) = staged.run(CORE, &frame);
        (v, p.data().to_vec())
    });
}

/// The prefetching lane (a table beyond the cache) over whole bursts: the corpus in bursts of 1 to 64 frames —
/// shorter than its look-ahead, as long, and longer — on every port, gives the same frames, verdicts and counters
/// as the stages alone, and takes the ordinary packets through the lane.
#[test]
fn prefetching_lane_agrees_with_the_stages_over_whole_bursts() {
    let mut lane = Gateway::standard();
    lane.fast_path.set_schedule(Schedule::PrefetchingLane);
    let mut staged = Gateway::standard();
    staged.fast_path.set_schedule(Schedule::Stages);
    let corpus = corpus();
    let mut bursts = 0;
    for port in [CORE, SGI, ACCESS] {
        for (at, frames) in bursts_of_varied_length(&corpus).enumerate() {
            let run = |gateway: &Gateway| {
                let mut packets: Vec<VecPacket> = frames.iter().map(|frame| VecPacket::new(frame)).collect();
                for (packet, nic) in packets.iter_mut().zip([RxChecksum::Unknown, RxChecksum::Good].iter().cycle()) {
                    packet.rx_checksum = *nic;
                }
                let mut nexts = vec![Next::PUNT; packets.len()];
                gateway.fast_path.process_burst(port, &mut packets, &mut nexts);
                let frames: Vec<Vec<u8>> = packets.iter().map(|packet| packet.data().to_vec()).collect();
                (nexts, frames)
            };
            assert_eq!(run(&lane), run(&staged), "port {port}, burst {at}");
            bursts += 1;
        }
    }
    assert_same_counts(&lane, &staged, &format!("after {bursts} bursts"));
}

/// `frames` cut into bursts of 1, 7, 8, 15, 16, 17, 32 and 64 frames in turn (the last one what is left).
fn bursts_of_varied_length(frames: &[Vec<u8>]) -> impl Iterator<Item = &[Vec<u8>]> {
    let mut rest = frames;
    let mut lengths = [1, 7, 8, 15, 16, 17, 32, 64].into_iter().cycle();
    std::iter::from_fn(move || {
        let length = lengths.next()?.min(rest.len());
        let (burst, after) = rest.split_at(length);
        rest = after;
        (!burst.is_empty()).then_some(burst)
    })
}
