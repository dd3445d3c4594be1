//! Signalling throughput and memory per binding, in-process on one core: N initial-attach PBUs (each a new UE:
//! own NAI, own downlink GRE key, IPv4v6 on the APN "internet") go through the real codec and the LMA state
//! machine, and each PBA is emitted back into bytes.
//!
//! Two paths:
//! - `codec+lma`: parse → `Lma::handle` → acknowledge its fast-path update at once → emit the PBA;
//! - `codec+lma+tables`: the same, but the update goes through the data plane's `UpdateSender` into one worker's
//!   table (applied in this thread) and the PBA leaves only once the worker's epoch covers it — the
//!   "installed before acknowledged" path of the gateway, without the thread hop;
//! - `codec+lma+journal`: `codec+lma` with durable state on: every change goes to a journal (in `--state-dir`)
//!   whose own thread syncs it in groups, handed over once per 64 PBUs as the gateway's control thread does with
//!   a burst of punted PBUs under load; the time includes waiting until the last change is durable.
//!
//! - `warm-start`: a journal kept by `codec+lma+journal --keep-journal F` read back (`--keep-journal F` again)
//!   and restored the way the gateway's warm start does it — load, `Lma::restore`, every binding installed in
//!   one worker's table, the fresh journal written and synced — each phase timed.
//!
//! Memory: resident-set growth while the N bindings are created, per binding (RSS, so allocator overhead and
//! preallocated tables count), for the LMA state alone and with the data plane's tables and counters.
//!
//! `signalling --bindings 1000000 [--json out.json]`

use clap::Parser;
use controlplane::config::{ApnConfig, LmaConfig};
use controlplane::durable::journal::JournalWriter;
use controlplane::durable::Owner;
use controlplane::fastpath::{
    Function as CpFunction, TunnelEndpoints as CpEndpoints, TunnelId, TunnelSpec, TunnelUpdate,
};
use controlplane::lma::Lma;
use controlplane::machine::{Input, Output};
use controlplane::time::{Millis, Now};
use controlplane::transport;
use controlplane::wire::{BaStatus, MhRepr};
use dataplane::binding::{Binding, BindingId, Function, TunnelEndpoints};
use dataplane::counters::WorkerCounters;
use dataplane::tables::{TableConfig, UpdateSender, WorkerTable};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Cli {
    #[arg(long, default_value_t = 1_000_000)]
    bindings: u32,
    /// One path only (`codec+lma` or `codec+lma+tables`); without it both run, each in a fresh process so
    /// that one's freed memory does not hide the other's growth.
    #[arg(long)]
    path: Option<String>,
    /// Where `codec+lma+journal` writes its journal (the file is removed afterwards).
    #[arg(long, default_value = "/var/tmp")]
    state_dir: std::path::PathBuf,
    /// With `--path codec+lma+journal`: write the journal here and keep it (a state for measuring a warm start).
    #[arg(long)]
    keep_journal: Option<std::path::PathBuf>,
    /// With `--path codec+lma+journal`: the journal's `state.min_commit_interval_us` (0: commit as soon as the
    /// previous commit is done, the gateway's default).
    #[arg(long, default_value_t = 0)]
    min_commit_interval_us: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// PBUs encoded ahead of each timed chunk (encoding is the MAG's work, not the LMA's).
const CHUNK: u32 = 100_000;
/// PBUs the gateway's control thread handles per loop iteration under load (`PUNT_BURST` in src/control/mod.rs): the
/// journal gets one batch per this many.
const PUNT_BURST: usize = 64;

fn config(bindings: u32) -> LmaConfig {
    LmaConfig {
        allowed_mags: vec!["2001:db8:1::/48".parse().expect("prefix")],
        apns: vec![ApnConfig {
            name: "internet".into(),
            ipv6_pool: Some("2001:db8:100::/40".parse().expect("prefix")),
            ipv4_pool: Some("10.0.0.0/8".parse().expect("prefix")),
        }],
        default_apn: Some("internet".into()),
        max_bindings: bindings as usize + 1,
        ..LmaConfig::default()
    }
}

/// The data plane's form of the control plane's tunnel (field for field).
fn to_binding(spec: &TunnelSpec) -> Binding {
    Binding {
        function: match spec.function {
            CpFunction::Lma => Function::Lma,
            CpFunction::Mag => Function::Mag,
        },
        tunnel: match spec.endpoints {
            CpEndpoints::Ipv6 { local, remote } => TunnelEndpoints::Ipv6 { local, remote },
            CpEndpoints::Ipv4 { local, remote } => TunnelEndpoints::Ipv4 { local, remote },
        },
        uplink_key: spec.uplink_key,
        downlink_key: spec.downlink_key,
        ue_ipv4: spec.ue_ipv4,
        ue_ipv6_prefix: spec.ue_ipv6_prefix,
        next_hop: Default::default(),
    }
}

/// The data plane behind the LMA: the control thread's sender and one worker's table.
struct Tables {
    sender: UpdateSender,
    worker: WorkerTable,
    counters: WorkerCounters,
    slots: HashMap<TunnelId, BindingId>,
}

impl Tables {
    fn new(capacity: usize) -> Self {
        let mut sender =
            UpdateSender::new(TableConfig { capacity, queue_depth: 2048, queue_wait: Duration::from_secs(1) });
        let worker = sender.add_worker().expect("a worker table");
        let counters = WorkerCounters::new(std::sync::Arc::clone(worker.records()));
        Tables { sender, worker, counters, slots: HashMap::new() }
    }

    /// Applies an update the way the gateway's I/O layer would; true once every worker has it.
    fn apply(&mut self, update: &TunnelUpdate) -> bool {
        let epoch = match update {
            TunnelUpdate::Install { id, spec } => {
                let done = self.sender.install(to_binding(spec)).expect("room in the tables");
                self.slots.insert(*id, done.id);
                done.epoch
            }
            TunnelUpdate::Modify { id, spec } => self.sender.modify(self.slots[id], to_binding(spec)).expect("known"),
            TunnelUpdate::Remove { id } => self.sender.remove(self.slots[id]).expect("known"),
        };
        self.worker.apply_pending(&self.counters, usize::MAX);
        self.sender.applied_epoch() >= epoch
    }

    /// Installs at a warm start: queued, the worker applying them every 1,024 (before its first burst).
    fn apply_batched(&mut self, update: &TunnelUpdate) {
        if let TunnelUpdate::Install { id, spec } = update {
            let done = self.sender.install(to_binding(spec)).expect("room in the tables");
            self.slots.insert(*id, done.id);
            if self.slots.len().is_multiple_of(1024) {
                self.worker.apply_pending(&self.counters, usize::MAX);
            }
        }
    }
}

/// Space for one chunk of encoded PBUs, allocated before the memory baseline is taken.
struct Chunk {
    bytes: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

/// Runs N transactions; returns (seconds, accepted PBAs, bytes of the last PBA).
fn run(
    lma: &mut Lma,
    bindings: u32,
    mut tables: Option<&mut Tables>,
    mut journal: Option<&mut JournalWriter>,
    chunk: &mut Chunk,
) -> (f64, u32, usize) {
    // The wall clock is today's, so that a kept journal's lifetimes are still running when a gateway reads it.
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let now = Now::virtual_at(Millis(1_000), wall);
    let mut out = Vec::with_capacity(8);
    let mut more = Vec::with_capacity(8);
    let mut pba_buf = vec![0u8; 512];
    let mut pba_len = 0;
    let mut accepted = 0;
    let mut seconds = 0.0;
    let mut start = 0;
    while start < bindings {
        let end = (start + CHUNK).min(bindings);
        chunk.bytes.clear();
        chunk.ranges.clear();
        for i in start..end {
            let range = bench::signalling::append_pbu_packet(i, now, &mut chunk.bytes);
            chunk.ranges.push(range);
        }
        let t = Instant::now();
        for (at, range) in chunk.ranges.iter().enumerate() {
            let frame = transport::parse(&chunk.bytes[range.clone()]).expect("our PBU parses");
            let msg = frame.repr().expect("our PBU decodes");
            out.clear();
            lma.handle(Input::Received { header: frame.header, msg }, now, &mut out);
            // The LMA holds the PBA until its update is applied (TS 29.275: installed before acknowledged).
            for i in 0..out.len() {
                if let Output::Fastpath { token, update } = &out[i] {
                    let applied = match tables.as_deref_mut() {
                        Some(t) => t.apply(update),
                        None => true,
                    };
                    assert!(applied, "one in-thread worker applies at once");
                    more.clear();
                    lma.handle(Input::FastpathApplied(*token), now, &mut more);
                    out.append(&mut more);
                }
            }
            if let Some(journal) = journal.as_deref_mut() {
                journal.append_outbox(lma.outbox());
                // As the gateway's control thread under load: one batch per burst of punted PBUs, with the live
                // records the compaction measures its garbage against (`release_durable` in src/control).
                if (at + 1) % PUNT_BURST == 0 || at + 1 == chunk.ranges.len() {
                    journal.set_live_records(lma.binding_count() as u64);
                    journal.flush();
                }
            }
            for o in &out {
                if let Output::Send { header, msg: msg @ MhRepr::Pba(pba) } = o {
                    pba_len = transport::emit(header, msg, &mut pba_buf).expect("a PBA fits 512 bytes");
                    if pba.status == BaStatus::ACCEPTED {
                        accepted += 1;
                    }
                }
            }
        }
        seconds += t.elapsed().as_secs_f64();
        start = end;
    }
    (seconds, accepted, pba_len)
}

fn rss_bytes() -> f64 {
    bench::procfs::own_memory().rss_kib as f64 * 1024.0
}

fn main() {
    let cli = Cli::parse();
    let n = cli.bindings;
    let paths: Vec<String> = match &cli.path {
        Some(path) => vec![path.clone()],
        None => vec!["tables".into(), "codec+lma".into(), "codec+lma+journal".into(), "codec+lma+tables".into()],
    };
    let mut figures = Vec::new();
    for path in paths {
        let figure = if cli.path.is_some() {
            measure(&path, n, &cli.state_dir, cli.keep_journal.as_deref(), cli.min_commit_interval_us)
        } else {
            // A fresh process per path: freed memory of the first would hide the second's growth.
            let exe = std::env::current_exe().expect("own path");
            let out = std::process::Command::new(exe)
                .args(["--bindings", &n.to_string(), "--path", &path, "--state-dir"])
                .arg(&cli.state_dir)
                .args(["--min-commit-interval-us", &cli.min_commit_interval_us.to_string()])
                .output()
                .expect("running a path");
            print!("{}", String::from_utf8_lossy(&out.stdout));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
            serde_json::from_str(&last).expect("the figure line")
        };
        figures.push(figure);
    }
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&figures).expect("json")).expect("writing the JSON");
    }
}

/// The data plane alone: N bindings of the traffic model installed through the `UpdateSender` (its replica), one
/// worker's table and its per-binding counters, as pmipgw holds them with one worker.
fn tables_only(n: u32) -> serde_json::Value {
    let before = rss_bytes();
    let t = Instant::now();
    let mut tables = Tables::new(n as usize);
    let after_alloc = rss_bytes();
    for i in 0..n {
        tables
            .sender
            .install(bench::traffic::binding(Function::Lma, dataplane::nexthop::IpFamily::V6, i))
            .expect("room");
        if i % 1024 == 1023 {
            tables.worker.apply_pending(&tables.counters, usize::MAX);
        }
    }
    tables.worker.apply_pending(&tables.counters, usize::MAX);
    let seconds = t.elapsed().as_secs_f64();
    let grown = rss_bytes() - before;
    println!(
        "{:<18} {n} installs in {seconds:.2} s; memory {:.0} B per binding (RSS growth {:.0} MiB, {:.0} MiB of it \
         before the first install)",
        "tables",
        grown / f64::from(n),
        grown / f64::from(1 << 20),
        (after_alloc - before) / f64::from(1 << 20)
    );
    let figure = json!({
        "path": "tables", "bindings": n, "seconds": seconds, "per_second": f64::from(n) / seconds,
        "bytes_per_binding": grown / f64::from(n), "rss_growth_mib": grown / f64::from(1 << 20),
    });
    println!("{figure}");
    drop(tables);
    figure
}

/// One path in this process; prints a line for people and a JSON line for the parent.
fn measure(
    path: &str,
    n: u32,
    state_dir: &std::path::Path,
    keep: Option<&std::path::Path>,
    min_commit_interval_us: u64,
) -> serde_json::Value {
    let (with_tables, durable) = match path {
        "tables" => return tables_only(n),
        "warm-start" => return warm_start(n, keep.expect("--keep-journal: the journal to start from")),
        "codec+lma" => (false, false),
        "codec+lma+journal" => (false, true),
        "codec+lma+tables" => (true, false),
        other => panic!("unknown path {other}"),
    };
    let mut chunk =
        Chunk { bytes: Vec::with_capacity(CHUNK as usize * 256), ranges: Vec::with_capacity(CHUNK as usize) };
    chunk.bytes.resize(chunk.bytes.capacity(), 0);
    let before = rss_bytes();
    let mut lma = Lma::new(config(n), 1).expect("a valid LMA config");
    let mut tables = with_tables.then(|| Tables::new(n as usize));
    let file = keep.map_or_else(
        || state_dir.join(format!("pmipgw-signalling-{}.journal", std::process::id())),
        std::path::Path::to_path_buf,
    );
    let mut journal = durable.then(|| {
        lma.enable_durability();
        let journal = JournalWriter::create(&file, Owner::Lma, &[], Box::new(|| {})).expect("a journal in --state-dir");
        journal.set_min_commit_interval(Duration::from_micros(min_commit_interval_us));
        journal
    });
    let (mut seconds, accepted, pba_len) = run(&mut lma, n, tables.as_mut(), journal.as_mut(), &mut chunk);
    if let Some(mut journal) = journal {
        let t = Instant::now();
        journal.close();
        seconds += t.elapsed().as_secs_f64();
        let stats = journal.stats();
        println!(
            "{:<18} {} commits, {} records, {} bytes, {} compactions",
            "journal", stats.commits, stats.records_written, stats.file_bytes, stats.compactions
        );
        if keep.is_none() {
            let _ = std::fs::remove_file(&file);
        }
    }
    let grown = rss_bytes() - before;
    let rate = f64::from(n) / seconds;
    println!(
        "{path:<18} {n} PBU->PBA in {seconds:.2} s: {rate:.0} per second ({:.2} us each), {accepted} accepted, \
         PBA {pba_len} B; memory {:.0} B per binding (RSS growth {:.0} MiB)",
        1e6 / rate,
        grown / f64::from(n),
        grown / f64::from(1 << 20)
    );
    assert_eq!(accepted, n, "every PBU accepted");
    let figure = json!({
        "path": path, "bindings": n, "seconds": seconds, "per_second": rate,
        "bytes_per_binding": grown / f64::from(n), "rss_growth_mib": grown / f64::from(1 << 20),
    });
    println!("{figure}");
    figure
}

/// A warm start from a kept journal, phase by phase (see the module documentation).
fn warm_start(n: u32, file: &std::path::Path) -> serde_json::Value {
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let now = Now::virtual_at(Millis(1_000), wall);
    let t = Instant::now();
    let loaded =
        controlplane::durable::journal::load(file, Owner::Lma).expect("a readable journal").expect("a journal");
    let read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut lma = Lma::new(config(n), 1).expect("a valid LMA config");
    lma.enable_durability();
    let mut out = Vec::new();
    let report = lma.restore(loaded.restored, now, &mut out);
    let restore_s = t.elapsed().as_secs_f64();
    let kept = loaded.kept;
    let t = Instant::now();
    let mut tables = Tables::new(n as usize);
    let mut installs = 0;
    for o in &out {
        if let Output::Fastpath { update, .. } = o {
            tables.apply_batched(update);
            installs += 1;
        }
    }
    tables.worker.apply_pending(&tables.counters, usize::MAX);
    let tables_s = t.elapsed().as_secs_f64();
    // The journal goes on from the file as read (as the gateway's warm start does), with the restore's changes.
    let t = Instant::now();
    let mut journal = JournalWriter::adopt(file, Owner::Lma, kept, Box::new(|| {})).expect("the journal adopted");
    journal.append_outbox(lma.outbox());
    journal.close();
    let write_s = t.elapsed().as_secs_f64();
    let total = read_s + restore_s + tables_s + write_s;
    println!(
        "warm-start         {} restored, {} expired, {} refused, {installs} installs: {total:.2} s = read {read_s:.2} \
         + restore {restore_s:.2} + tables {tables_s:.2} + journal adopted {write_s:.2}",
        report.restored, report.expired, report.refused
    );
    let figure = json!({
        "path": "warm-start", "bindings": report.restored, "seconds": total, "read_s": read_s,
        "restore_s": restore_s, "tables_s": tables_s, "journal_s": write_s,
    });
    println!("{figure}");
    figure
}
