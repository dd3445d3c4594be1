//! Table-update cost: what a worker spends applying updates between bursts (`FastPath::apply_updates`), and
//! what the control thread spends validating them against its replica and queueing them
//! (`UpdateSender::install/remove/modify`), with 1k, 100k and 1M bindings installed.
//!
//! - `install+remove`: a PDN connection comes up and an older one goes down (the table size stays put);
//! - `modify`: a binding changes in place (an LMA handover to another MAG: same keys, new remote).
//!
//! Each iteration is a batch of 512 updates; criterion's elements/s is updates per second.
//!
//! Run: `cargo bench -p bench --bench tables -- --warm-up-time 1 --measurement-time 2`

use bench::inproc::Gateway;
use bench::results::short_count;
use bench::traffic;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use dataplane::binding::Function;
use dataplane::binding::{BindingId, TunnelEndpoints};
use dataplane::nexthop::IpFamily;
use dataplane::tables::UpdateSender;
use std::collections::VecDeque;
use std::net::Ipv6Addr;

const BATCH: usize = 512;
/// Extra bindings kept alive by install+remove on top of the N installed ones.
const EXTRA: u32 = 4096;

fn bindings() -> Vec<u32> {
    std::env::var("PMIPGW_BENCH_BINDINGS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000])
}

/// Installs and removes: BATCH/2 of each, oldest extra first, fresh keys and addresses for each install.
struct Churn {
    function: Function,
    next: u32,
    live: VecDeque<BindingId>,
}

impl Churn {
    fn new(function: Function, n: u32, sender: &mut UpdateSender) -> Self {
        let mut c = Churn { function, next: n, live: VecDeque::new() };
        for _ in 0..EXTRA {
            c.install(sender);
        }
        c
    }
    fn install(&mut self, sender: &mut UpdateSender) {
        let b = traffic::binding(self.function, IpFamily::V6, self.next);
        self.next += 1;
        self.live.push_back(sender.install(b).expect("room for the extra bindings").id);
    }
    fn batch(&mut self, sender: &mut UpdateSender) {
        for _ in 0..BATCH / 2 {
            sender.remove(self.live.pop_front().expect("extras")).expect("installed");
            self.install(sender);
        }
    }
}

/// Handovers: BATCH modifies of bindings in turn, the remote toggling between two MAGs.
struct Handover {
    function: Function,
    n: u32,
    step: u64,
}

impl Handover {
    fn batch(&mut self, sender: &mut UpdateSender) {
        for _ in 0..BATCH {
            let i = (self.step % u64::from(self.n)) as u32;
            let mut b = traffic::binding(self.function, IpFamily::V6, i);
            if (self.step / u64::from(self.n)) & 1 == 0 {
                if let TunnelEndpoints::Ipv6 { local, .. } = b.tunnel {
                    b.tunnel = TunnelEndpoints::Ipv6 { local, remote: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2) };
                }
            }
            sender.modify(BindingId(i), b).expect("installed");
            self.step += 1;
        }
    }
}

fn tables(c: &mut Criterion) {
    for n in bindings() {
        for function in [Function::Lma, Function::Mag] {
            let name = format!("{function:?}").to_lowercase();
            let mut gw = Gateway::new(function, IpFamily::V6, n, (n + EXTRA) as usize + BATCH);
            let mut churn = Churn::new(function, n, &mut gw.sender);
            gw.fast_path.apply_updates(usize::MAX);
            let mut handover = Handover { function, n, step: 0 };
            let mut group = c.benchmark_group(format!("tables/{name}"));
            group.throughput(Throughput::Elements(BATCH as u64));
            let count = short_count(n);
            let (sender, fast_path) = (&mut gw.sender, &mut gw.fast_path);
            group.bench_function(BenchmarkId::new("worker apply install+remove", &count), |b| {
                b.iter_batched(
                    || churn.batch(sender),
                    |()| fast_path.apply_updates(usize::MAX),
                    BatchSize::PerIteration,
                )
            });
            group.bench_function(BenchmarkId::new("worker apply modify", &count), |b| {
                b.iter_batched(
                    || handover.batch(sender),
                    |()| fast_path.apply_updates(usize::MAX),
                    BatchSize::PerIteration,
                )
            });
            group.bench_function(BenchmarkId::new("control install+remove", &count), |b| {
                b.iter_batched(
                    || {
                        fast_path.apply_updates(usize::MAX);
                    },
                    |()| churn.batch(sender),
                    BatchSize::PerIteration,
                )
            });
            group.finish();
            assert_eq!(fast_path.counters().snapshot().updates_refused, 0);
        }
    }
}

criterion_group!(benches, tables);
criterion_main!(benches);
