//! The fast path's UE-address index against DPDK's `rte_hash`, both used the way the pipeline would use them: 64
//! lookups at a time of present keys in random order, then the binding's record read. The index
//! (`WorkerTable::find_ue_bulk`): hash, prefetch the bucket, scan it, prefetch the candidate record, confirm it.
//! `rte_hash`: CRC32-C hashes computed ahead, `rte_hash_lookup_with_hash_bulk_data` (which prefetches its
//! buckets and compares the stored keys), then prefetch and read the record of the slot it returned. Rounds
//! alternate between the two so that the machine's drift hits both alike.
//!
//! `hashcmp --bindings 1000,100000,1000000 -- -l 0 --huge-dir /mnt/huge --file-prefix hc`

use bench::inproc::Gateway;
use bench::keys::permutation;
use bench::traffic;
use clap::Parser;
use dataplane::binding::{BindingId, Function};
use dataplane::dpdk::{Eal, RteHash, HASH_BULK_MAX};
use dataplane::nexthop::IpFamily;
use std::time::Instant;

#[derive(Parser, Debug)]
struct Cli {
    /// Table sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    bindings: Vec<u32>,
    /// Lookups per round and table.
    #[arg(long, default_value_t = 2_000_000)]
    lookups: usize,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

fn main() -> Result<(), String> {
    let cli = Cli::parse();
    let _eal =
        Eal::init(std::iter::once("hashcmp".to_owned()).chain(cli.eal.iter().cloned())).map_err(|e| e.to_string())?;
    println!("| bindings | index ns/lookup | rte_hash ns/lookup | rte_hash ÷ index |");
    println!("|---:|---:|---:|---:|");
    for &n in &cli.bindings {
        let gw = Gateway::new(Function::Lma, IpFamily::V4, n, n as usize);
        let table = gw.fast_path.tables();
        let records = table.records();
        let mut hash = RteHash::new(&format!("hashcmp{n}"), n.max(8)).map_err(|e| e.to_string())?;
        for i in 0..n {
            let key = u64::from(u32::from(traffic::ue_ipv4(i)));
            let slot = table.find_ue(Function::Lma, false, key).ok_or("a binding the index cannot find")?;
            if !hash.add(key, slot.0) {
                return Err(format!("rte_hash refused key {i} of {n}"));
            }
        }
        let keys: Vec<u64> = permutation(n, 7)
            .iter()
            .map(|&i| u64::from(u32::from(traffic::ue_ipv4(i))))
            .cycle()
            .take(1 << 20)
            .collect();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut checksum = 0u64;
        for _ in 0..cli.rounds {
            let mut out = [None::<BindingId>; HASH_BULK_MAX];
            let start = Instant::now();
            for batch in keys.chunks(HASH_BULK_MAX).cycle().take(cli.lookups / HASH_BULK_MAX) {
                table.find_ue_bulk(Function::Lma, false, batch, &mut out);
                checksum += out.iter().flatten().map(|id| u64::from(id.0)).sum::<u64>();
            }
            ours.push(start.elapsed().as_secs_f64() * 1e9 / cli.lookups as f64);

            let mut hashes = [0u32; HASH_BULK_MAX];
            let mut slots = [None::<u32>; HASH_BULK_MAX];
            let start = Instant::now();
            for batch in keys.chunks(HASH_BULK_MAX).cycle().take(cli.lookups / HASH_BULK_MAX) {
                for (h, key) in hashes.iter_mut().zip(batch) {
                    *h = RteHash::hash(*key);
                }
                hash.lookup_bulk(batch, &mut hashes, &mut slots);
                for slot in slots.iter().flatten() {
                    records.prefetch(*slot);
                }
                checksum +=
                    slots.iter().flatten().filter(|&&slot| records.is_live(slot)).map(|&s| u64::from(s)).sum::<u64>();
            }
            theirs.push(start.elapsed().as_secs_f64() * 1e9 / cli.lookups as f64);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (ours, theirs) = (median(&mut ours), median(&mut theirs));
        println!("| {n} | {ours:.1} | {theirs:.1} | {:.2} |", theirs / ours);
        std::hint::black_box(checksum);
    }
    Ok(())
}
