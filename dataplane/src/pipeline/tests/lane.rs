//! The fast lane (`shape.rs`) decides only what the full parser would decide: on valid frames of every direction,
//! the shared vectors, and every one-byte corruption and truncation of them, both fill the same `Pending`.

use super::super::ingress::Pending;
use super::*;
use crate::packet::RxChecksum;

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
