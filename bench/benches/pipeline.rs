//! Per-packet cost of the fast path, in-process over `VecPacket`s (no EAL, no NIC): one burst of 64 packets
//! through `FastPath::process_burst`, for each direction (LMA/MAG, uplink/downlink, IPv6/IPv4 tunnel), with 1k,
//! 100k and 1M bindings in the table and uniform or Zipf-skewed (s = 0.99) key popularity. Inner packets are
//! 64 bytes (the pipeline never touches the payload, so the size does not matter here).
//!
//! Building the burst (copying pre-generated frames) is outside the timing; criterion reports elements/s,
//! i.e. packets per second of pipeline work alone.
//!
//! Run: `cargo bench -p bench --bench pipeline -- --warm-up-time 1 --measurement-time 2`
//! Fewer table sizes: `PMIPGW_BENCH_BINDINGS=1000,100000 cargo bench ...`; one direction: `... -- lma-up-v6`.

use bench::inproc::Gateway;
use bench::keys::{permutation, KeySampler, Popularity};
use bench::results::short_count;
use bench::traffic::{self, Direction};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use dataplane::binding::{Function, Way};
use dataplane::nexthop::IpFamily;
use dataplane::packet::VecPacket;
use dataplane::pipeline::Next;
use dataplane::PortIndex;

const BURST: usize = 64;
/// Frames pre-generated per benchmark: enough distinct bindings that a 1M table is not cache-resident.
const POOL: u32 = 1 << 18;

/// Table sizes, from `PMIPGW_BENCH_BINDINGS` (comma-separated) or 1k, 100k, 1M.
pub fn bindings() -> Vec<u32> {
    std::env::var("PMIPGW_BENCH_BINDINGS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000])
}

/// Frames of `direction` for bindings drawn with `popularity`: uniform = every binding once (a random subset
/// of POOL when there are more), Zipf = POOL draws.
fn pool(direction: Direction, n: u32, popularity: Popularity) -> Vec<VecPacket> {
    let indices: Vec<u32> = match popularity {
        Popularity::Uniform if n <= POOL => permutation(n, 1),
        _ => {
            let mut sampler = KeySampler::new(n, popularity, 1);
            (0..POOL).map(|_| sampler.draw()).collect()
        }
    };
    indices.into_iter().map(|i| VecPacket::new(&traffic::frame(direction, i, 64))).collect()
}

fn pipeline(c: &mut Criterion) {
    for n in bindings() {
        for function in [Function::Lma, Function::Mag] {
            for family in [IpFamily::V6, IpFamily::V4] {
                let gw = Gateway::new(function, family, n, n as usize);
                for way in [Way::Uplink, Way::Downlink] {
                    let direction = Direction { function, way, family };
                    let mut group = c.benchmark_group(format!("pipeline/{direction}"));
                    group.throughput(Throughput::Elements(BURST as u64));
                    for popularity in [Popularity::Uniform, Popularity::Zipf(0.99)] {
                        let frames = pool(direction, n, popularity);
                        let id = BenchmarkId::new(popularity.name(), short_count(n));
                        bench_bursts(&mut group, id, &gw, &frames, &format!("{direction}"));
                    }
                    group.finish();
                }
            }
        }
    }
}

/// What an ICMP error costs: plain packets at the end of their TTL, each answered with Time Exceeded (built in
/// its buffer, sent back), with the rate limit out of the way: the most errors one worker can make per second.
fn icmp(c: &mut Criterion) {
    for family in [IpFamily::V4, IpFamily::V6] {
        let direction = Direction { function: Function::Lma, way: Way::Downlink, family };
        let gw = Gateway::configured(Function::Lma, family, 1000, 1000, |config| {
            config.ports[0].icmp_source_v4 = Some(std::net::Ipv4Addr::new(203, 0, 113, 1));
            config.ports[0].icmp_source_v6 = Some("2001:db8:50::1".parse().unwrap());
            config.icmp_errors_per_second = 1_000_000_000;
        });
        // Inner TTL / hop limit 1, with the IPv4 header checksum made right again.
        let frames: Vec<VecPacket> = permutation(1000, 1)
            .into_iter()
            .map(|i| {
                let mut frame = traffic::frame(direction, i, 64);
                if family == IpFamily::V4 {
                    frame[14 + 8] = 1;
                    frame[14 + 10..14 + 12].fill(0);
                    let sum =
                        frame[14..34].chunks(2).fold(0u32, |a, w| a + u32::from(u16::from_be_bytes([w[0], w[1]])));
                    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
                    frame[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
                } else {
                    frame[14 + 7] = 1;
                }
                VecPacket::new(&frame)
            })
            .collect();
        let name = if family == IpFamily::V4 { "ipv4" } else { "ipv6" };
        let mut group = c.benchmark_group(format!("icmp/time-exceeded-{name}"));
        bench_bursts(&mut group, BenchmarkId::from_parameter("1k"), &gw, &frames, "every packet answered");
        group.finish();
    }
}

/// Times bursts of `frames` (in turn) through the gateway's pipeline, after checking that a burst of them is sent
/// back out (forwarded, or answered): the figure is for real work, not an early drop. Building a burst (copying
/// the frames) is outside the timing.
fn bench_bursts(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    gw: &Gateway,
    frames: &[VecPacket],
    what: &str,
) {
    let mut check: Vec<VecPacket> = frames.iter().take(BURST).cloned().collect();
    let mut nexts = [Next::PUNT; BURST];
    gw.fast_path.process_burst(PortIndex(0), &mut check, &mut nexts);
    assert!(nexts.iter().all(|n| *n == Next::forward(PortIndex(0))), "{what}: {nexts:?}");
    group.throughput(Throughput::Elements(BURST as u64));
    let mut next = 0;
    group.bench_function(id, |b| {
        b.iter_batched_ref(
            || {
                let burst: Vec<VecPacket> = (0..BURST)
                    .map(|_| {
                        next = (next + 1) % frames.len();
                        frames[next].clone()
                    })
                    .collect();
                (burst, [Next::PUNT; BURST])
            },
            |(burst, nexts)| gw.fast_path.process_burst(PortIndex(0), burst, nexts),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, pipeline, icmp);
criterion_main!(benches);
