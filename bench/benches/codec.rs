//! Parse and emit of a full PBU and PBA (the shared vectors V1 and V2: every option of an initial attach),
//! at the three levels the control plane uses: the zero-allocation option walk, the typed `MhRepr`, and the
//! whole framed IPv6 packet with checksum.
//!
//! Run: `cargo bench -p bench --bench codec -- --warm-up-time 1 --measurement-time 3`

use controlplane::transport;
use controlplane::wire::{MhPacket, MhRepr};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// Vector V1 (PBU, 136-octet MH) and V2 (PBA, 152-octet MH) as IPv6 packets, from testdata/vectors/README.md.
const V1: &str = "600000000088874020010db800010000000000000000000120010db800020000\
00000000000000013b100500ce580001c2000384083601303031303130303030\
303030303031406e61692e6570632e6d6e633030312e6d63633030312e336770\
706e6574776f726b2e6f7267140908696e7465726e6574010300000016120000\
00000000000000000000000000000000170200011802000801001b0800006592\
00808000210600000001000101020000";
const V2: &str = "600000000098874020010db800020000000000000000000120010db800010000\
00000000000000013b12060058ab002000010384083601303031303130303030\
303030303031406e61692e6570632e6d6e633030312e6d63633030312e336770\
706e6574776f726b2e6f7267140908696e7465726e6574010300000016120040\
20010db8aaaa00010000000000000000170200011802000801001b0800006592\
00808000210600000a0b0c0d0100130a000028af070001020304010400000000";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn bench_message(c: &mut Criterion, name: &str, packet: &[u8]) {
    let frame = transport::parse(packet).unwrap();
    let header = frame.header;
    let repr = frame.repr().unwrap();
    let mh = frame.mh.as_bytes().to_vec();
    let mut buf = vec![0u8; header.buffer_len(&repr)];

    let mut g = c.benchmark_group(name);
    g.bench_function("walk options (zero-alloc)", |b| {
        b.iter(|| {
            let p = MhPacket::new_checked(black_box(&mh[..])).unwrap();
            p.options().filter(|o| o.is_ok()).count()
        })
    });
    g.bench_function("parse MhRepr", |b| b.iter(|| MhRepr::parse_bytes(black_box(&mh)).unwrap()));
    g.bench_function("emit MhRepr", |b| b.iter(|| black_box(&repr).emit(&mut buf).unwrap()));
    g.bench_function("parse IPv6 frame + checksum + MhRepr", |b| {
        b.iter(|| transport::parse(black_box(packet)).unwrap().repr().unwrap())
    });
    g.bench_function("emit IPv6 frame + checksum", |b| {
        b.iter(|| transport::emit(&header, black_box(&repr), &mut buf).unwrap())
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    bench_message(c, "PBU (V1)", &hex(V1));
    bench_message(c, "PBA (V2)", &hex(V2));
}

criterion_group!(benches, codec);
criterion_main!(benches);
