//! The signalling codec's invariants, checked for any bytes: what the fuzz target (`fuzz/fuzz_targets/parse.rs`)
//! asserts, and what the kept corpus (`testdata/fuzz/parse/`) replays in the tests.
//!
//! Feeds arbitrary bytes to both entry points of the codec: a whole IP packet (`transport::parse`) and a bare
//! Mobility Header (`MhRepr::parse_bytes`, plus the zero-allocation option iterator). Besides "never panic", it
//! checks that whatever parses re-emits to something that parses back to the same value.
//!
//! Random bytes almost never carry valid IPv4/UDP/MH checksums, which would keep the fuzzer out of everything
//! behind them; so each input is also tried once more with the checksums it would need filled in.

use crate::transport;
use crate::wire::{checksum, MhPacket, MhRepr};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks `data` as a whole IP packet, as the same with its checksums filled in, and as a bare Mobility Header;
/// panics on a violation.
pub fn check_input(data: &[u8]) {
    check_frame(data);
    check_frame(&with_checksums(data));
    if let Ok(packet) = MhPacket::new_checked(data) {
        for (_, opt) in packet.options().flatten() {
            assert!(opt.wire_len() >= 1);
        }
        if let Ok(repr) = MhRepr::parse(&packet) {
            round_trip_mh(&repr);
        }
    }
}

fn round_trip_mh(repr: &MhRepr) {
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut buf).expect("a parsed message re-emits");
    assert_eq!(n, buf.len());
    assert_eq!(&MhRepr::parse_bytes(&buf).expect("re-emitted message parses"), repr);
}

fn check_frame(data: &[u8]) {
    let Ok(frame) = transport::parse(data) else { return };
    let Ok(repr) = frame.repr() else { return };
    let mut buf = vec![0u8; frame.header.buffer_len(&repr)];
    transport::emit(&frame.header, &repr, &mut buf).expect("a parsed frame re-emits");
    let again = transport::parse(&buf).expect("re-emitted frame parses");
    assert_eq!(again.header, frame.header);
    assert_eq!(again.repr().expect("re-emitted message parses"), repr);
}

/// Fills the MH checksum of an IPv6 header at `v6` (no extension headers assumed).
fn fix_mh(p: &mut [u8], v6: usize) {
    let (Some(s), Some(d)) = (p.get(v6 + 8..v6 + 24), p.get(v6 + 24..v6 + 40)) else { return };
    let s: [u8; 16] = s.try_into().unwrap_or_default();
    let d: [u8; 16] = d.try_into().unwrap_or_default();
    if let Some(mh) = p.get_mut(v6 + 40..) {
        MhPacket::new_unchecked(mh).fill_checksum(&Ipv6Addr::from(s), &Ipv6Addr::from(d));
    }
}

/// Best-effort: the same bytes with IPv4 header, UDP and MH checksums made valid.
fn with_checksums(data: &[u8]) -> Vec<u8> {
    let mut p = data.to_vec();
    match p.first().map(|b| b >> 4) {
        Some(6) => fix_mh(&mut p, 0),
        Some(4) if p.len() >= 28 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
            if ihl < 20 || ihl > total {
                return p;
            }
            match p[9] {
                41 => fix_mh(&mut p, ihl),
                17 if total >= ihl + 8 => {
                    if p.get(ihl + 8).is_some_and(|b| b >> 4 == 6) {
                        fix_mh(&mut p, ihl + 8);
                    }
                    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
                    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
                    p[ihl + 6..ihl + 8].fill(0);
                    let udp = &p[ihl..total];
                    let acc = checksum::pseudo_header_v4(&src, &dst, 17, udp.len() as u16);
                    let c = checksum::finish(checksum::sum(acc, udp));
                    p[ihl + 6..ihl + 8].copy_from_slice(&c.to_be_bytes());
                }
                _ => {}
            }
            p[10..12].fill(0);
            let c = checksum::finish(checksum::sum(0, &p[..ihl]));
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    p
}

#[cfg(test)]
mod tests {
    /// Every input the fuzzer kept (`testdata/fuzz/parse/`, minimised) holds the invariants.
    #[test]
    fn the_kept_corpus_holds_the_invariants() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fuzz/parse");
        let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        assert!(inputs.len() >= 50, "the kept corpus is there: {} inputs in {}", inputs.len(), dir.display());
        for input in &inputs {
            super::check_input(input);
        }
    }
}
