//! The fastpath driver: the `dataplane` crate's workers on one DPDK port with N bindings of the traffic model,
//! wired the way pmipgw wires them (static bindings through an `UpdateSender`, one table, rx queue and tx queue
//! per worker, spinning), for what pmipgw cannot do yet:
//!
//! - **churn**: the control thread applies binding updates at a fixed rate while the workers forward
//!   (`--churn-rate`); idle and churn phases alternate, and it reports each churn phase's rate against the idle
//!   phases around it, and the share of worker time the updates took;
//! - **several workers** on a machine with as many CPUs as workers (`--lcores` maps lcores onto CPUs; pmipgw
//!   passes `-l`, which cannot).
//!
//! Without `--churn-rate` it forwards until SIGINT, like pmipgw, and writes pmipgw's `--counters-json` shape.
//!
//! `fastpath --direction lma-up-v6 --bindings 1000 --devargs net_pcap0,rx_pcap=in.pcap,infinite_rx=1 -- -l 0-1 --no-huge`

use bench::traffic::{self, Direction};
use bench::{inproc, results};
use clap::Parser;
use dataplane::admission::Admission;
use dataplane::binding::{Binding, BindingId, Function, TunnelEndpoints};
use dataplane::counters::{CountersHandle, DropReason};
use dataplane::dpdk::{cpu_cycles, cycles_per_second, Eal, Mempool, MempoolConfig, Port, PortSetup, QueueId};
use dataplane::idle::{IdlePolicy, Idler};
use dataplane::pipeline::FastPath;
use dataplane::reassembly::Reassembler;
use dataplane::runtime::{launch, port_queues, WorkerQueues};
use dataplane::tables::{TableConfig, UpdateSender};
use dataplane::worker::{punt_queue, Worker};
use serde_json::json;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Cli {
    /// lma-up-v6, ..., mag-down-v4: which bindings to install (the function and tunnel family).
    #[arg(long)]
    direction: String,
    #[arg(long)]
    bindings: u32,
    /// The port's device and arguments, e.g. `net_pcap0,rx_pcap=a.pcap,rx_pcap=b.pcap,infinite_rx=1` (one
    /// rx_pcap per worker: each is one rx queue).
    #[arg(long)]
    devargs: String,
    #[arg(long, default_value_t = 16383)]
    mempool_size: u32,
    /// Table capacity (default: bindings + room for the churn's extra bindings).
    #[arg(long)]
    capacity: Option<usize>,
    /// Binding updates per second applied by the control thread; measures idle and churn phases in turn and exits.
    #[arg(long)]
    churn_rate: Option<u32>,
    /// Length of each churn-run phase, seconds.
    #[arg(long, default_value_t = 5.0)]
    phase_seconds: f64,
    /// Where to write the churn result (JSON).
    #[arg(long)]
    result: Option<PathBuf>,
    #[arg(long)]
    counters_json: Option<PathBuf>,
    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

/// Extra bindings live at once during churn (installed, then removed oldest first).
const CHURN_EXTRA: u32 = 10_000;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("fastpath: {e}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let direction = Direction::parse(&cli.direction).ok_or_else(|| format!("unknown direction {}", cli.direction))?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let eal =
        Eal::init(std::iter::once("fastpath".to_owned()).chain(cli.eal.iter().cloned())).map_err(|e| e.to_string())?;
    let pool = Arc::new(
        Mempool::create(&MempoolConfig { cache_size: 256, ..MempoolConfig::new("fastpath_pool", cli.mempool_size) })
            .map_err(|e| e.to_string())?,
    );
    let workers = eal.worker_lcores();
    if workers.is_empty() {
        return Err("give EAL at least one worker lcore (e.g. -l 0-1)".into());
    }
    let queues = workers.len() as u16;
    eal.probe_device(&cli.devargs).map_err(|e| e.to_string())?;
    let device = cli.devargs.split(',').next().unwrap_or_default();
    let port = Port::open(device, &PortSetup { rx_queues: queues, tx_queues: queues, ..PortSetup::default() }, pool)
        .map_err(|e| e.to_string())?;
    port.start().map_err(|e| e.to_string())?;

    let capacity = cli.capacity.unwrap_or(cli.bindings as usize + CHURN_EXTRA as usize + 1024);
    let mut sender = UpdateSender::new(TableConfig { capacity, queue_depth: 4096, queue_wait: Duration::from_secs(1) });
    for i in 0..cli.bindings {
        sender.install(traffic::binding(direction.function, direction.family, i)).map_err(|e| e.to_string())?;
    }
    let config = inproc::pipeline_config(direction.function);
    let (punt_tx, punt_rx) = punt_queue(1024);
    let mut all_counters = Vec::new();
    let mut handles = Vec::new();
    for (w, &lcore) in workers.iter().enumerate() {
        let table = sender.add_worker().map_err(|e| e.to_string())?;
        let fast_path = FastPath::new(&config, table).map_err(|e| e.to_string())?;
        all_counters.push(Arc::clone(fast_path.counters()));
        let WorkerQueues { rx, tx } = port_queues([&port], QueueId(w as u16)).map_err(|e| e.to_string())?;
        let worker = Worker {
            fast_path,
            rx,
            tx,
            punt: punt_tx.clone(),
            admission: Admission::new(Default::default()),
            inject: None,
            idler: Idler::new(IdlePolicy::Spin, None, cycles_per_second(), cpu_cycles()),
            pool: None,
            reassembly: Reassembler::new(Default::default()),
        };
        handles.push(launch(&eal, Some(lcore), worker, Arc::clone(&stop))?);
    }
    drop(punt_tx);
    let counters = CountersHandle::new(all_counters);
    eprintln!("fastpath: {} workers forwarding {direction} with {} bindings", workers.len(), cli.bindings);

    let outcome = match cli.churn_rate {
        Some(rate) => churn(cli, direction, &port, &mut sender, &counters, rate, &stop).map(Some),
        None => {
            while !stop.load(Ordering::Relaxed) {
                let _ = punt_rx.recv_timeout(Duration::from_millis(50), &[sender.wakeups()]);
            }
            Ok(None)
        }
    };
    stop.store(true, Ordering::Relaxed);
    let failed = handles.into_iter().map(|handle| handle.join()).filter(Option::is_none).count();
    if failed > 0 {
        return Err(format!("{failed} workers failed (panicked)"));
    }
    let outcome = outcome?;
    if let Some(result) = &outcome {
        let text = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
        println!("{text}");
        if let Some(path) = &cli.result {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if let Some(path) = &cli.counters_json {
        let stats = port.stats().map_err(|e| e.to_string())?;
        let total = counters.total();
        let bindings: Vec<_> = (0..cli.bindings)
            .map(|i| {
                let b = counters.binding(BindingId(i));
                json!({"uplink_packets": b.uplink_packets, "downlink_packets": b.downlink_packets})
            })
            .collect();
        let doc = json!({
            "exit": "stopped",
            "ports": [{"rx_packets": stats.rx_packets, "tx_packets": stats.tx_packets}],
            "fastpath": {
                "total": {
                    "encapsulated": total.encapsulated, "decapsulated": total.decapsulated,
                    "punted": total.punted, "dropped": total.total_drops(),
                    "updates_applied": total.updates_applied, "updates_refused": total.updates_refused,
                },
                "drops": DropReason::ALL.iter().map(|r| (r.name().to_owned(), json!(total.drops(*r))))
                    .collect::<serde_json::Map<_, _>>(),
                "bindings": bindings,
            },
        });
        std::fs::write(path, doc.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Forwarded packets per second over `seconds`, from the device counters.
fn rate(port: &Port, seconds: f64) -> Result<f64, String> {
    let a = port.stats().map_err(|e| e.to_string())?;
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let b = port.stats().map_err(|e| e.to_string())?;
    Ok((b.tx_packets - a.tx_packets) as f64 / t.elapsed().as_secs_f64())
}

/// Churn phases, each between two idle ones.
const CHURN_PHASES: usize = 3;

/// Idle and churn phases in turn, idle first and last: each churn phase's rate against the mean of the two idle
/// phases around it (this machine drifts by tens of percent over a run; neighbours drift least), and the share of
/// the workers' time that applying the updates took — the churn's own cost, which no drift blurs.
fn churn(
    cli: &Cli,
    direction: Direction,
    port: &Port,
    sender: &mut UpdateSender,
    counters: &CountersHandle,
    rate_per_s: u32,
    stop: &AtomicBool,
) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while port.stats().map_err(|e| e.to_string())?.tx_packets == 0 {
        if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
            return Err("no packet forwarded".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut churner = Churner::new(direction, cli.bindings);
    let before = counters.per_worker();
    let mut idle = vec![rate(port, cli.phase_seconds)?];
    let (mut churn_rates, mut ratios) = (Vec::new(), Vec::new());
    let (mut sent, mut churn_seconds, mut synced) = (0u64, 0.0, true);
    for _ in 0..CHURN_PHASES {
        let start = Instant::now();
        let tx_start = port.stats().map_err(|e| e.to_string())?.tx_packets;
        let phase = Duration::from_secs_f64(cli.phase_seconds);
        let mut phase_sent = 0u64;
        while start.elapsed() < phase && !stop.load(Ordering::Relaxed) {
            // Catch up with the schedule in 1 ms steps: 100 updates per step at 100,000/s.
            let due = (start.elapsed().as_secs_f64() * f64::from(rate_per_s)) as u64;
            while phase_sent < due {
                churner.step(sender)?;
                phase_sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let elapsed = start.elapsed().as_secs_f64();
        churn_rates.push((port.stats().map_err(|e| e.to_string())?.tx_packets - tx_start) as f64 / elapsed);
        sent += phase_sent;
        churn_seconds += elapsed;
        synced &= sender.sync(Duration::from_secs(5)).is_ok();
        idle.push(rate(port, cli.phase_seconds)?);
        let around = (idle[idle.len() - 2] + idle[idle.len() - 1]) / 2.0;
        ratios.push(if around > 0.0 { churn_rates[churn_rates.len() - 1] / around } else { 0.0 });
    }
    let after = counters.per_worker();
    // Each worker applies every update: the busiest one's share.
    let cycles = after.iter().zip(&before).map(|(a, b)| a.update_cycles - b.update_cycles).max().unwrap_or(0);
    let update_share = cycles as f64 / (churn_seconds * cycles_per_second() as f64).max(1.0);
    let total = |snapshots: &[dataplane::counters::CountersSnapshot]| {
        snapshots.iter().fold(dataplane::counters::CountersSnapshot::default(), |mut sum, s| {
            sum += s;
            sum
        })
    };
    let (before, after) = (total(&before), total(&after));
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(json!({
        "direction": direction.to_string(),
        "bindings": cli.bindings,
        "bindings_label": results::short_count(cli.bindings),
        "updates_per_s_target": rate_per_s,
        "updates_per_s": sent as f64 / churn_seconds,
        "updates_sent": sent,
        "updates_applied": after.updates_applied - before.updates_applied,
        "updates_refused": after.updates_refused - before.updates_refused,
        "all_applied": synced,
        "drops": after.total_drops(),
        "idle_mpps": idle.iter().map(|r| r / 1e6).collect::<Vec<_>>(),
        "churn_mpps": churn_rates.iter().map(|r| r / 1e6).collect::<Vec<_>>(),
        "idle_mean_mpps": mean(&idle) / 1e6,
        "churn_mean_mpps": mean(&churn_rates) / 1e6,
        "ratios": ratios,
        "ratio": sorted[sorted.len() / 2],
        "ratio_min": sorted[0],
        "ratio_max": sorted[sorted.len() - 1],
        "update_share": update_share,
        "phase_seconds": cli.phase_seconds,
    }))
}

/// The update mix: a PDN connection comes up (install), an old one goes down (remove), and a carrying binding
/// is modified in place — an LMA binding hands over to another MAG, a MAG binding learns a new uplink key —
/// so that traffic keeps flowing through every binding and any drop is a bug.
struct Churner {
    direction: Direction,
    bindings: u32,
    next_extra: u32,
    extra: VecDeque<BindingId>,
    step: u64,
}

impl Churner {
    fn new(direction: Direction, bindings: u32) -> Self {
        Churner { direction, bindings, next_extra: bindings, extra: VecDeque::new(), step: 0 }
    }

    fn step(&mut self, sender: &mut UpdateSender) -> Result<(), String> {
        let e = |e: dataplane::tables::TableError| e.to_string();
        self.step += 1;
        match self.step % 3 {
            0 if self.extra.len() as u32 >= CHURN_EXTRA => {
                let id = self.extra.pop_front().expect("non-empty");
                sender.remove(id).map_err(e)?;
            }
            0 | 1 => {
                let b = traffic::binding(self.direction.function, self.direction.family, self.next_extra);
                self.next_extra += 1;
                self.extra.push_back(sender.install(b).map_err(e)?.id);
            }
            _ => {
                let i = (self.step / 3 % u64::from(self.bindings)) as u32;
                let odd = (self.step / 3 / u64::from(self.bindings)) & 1 == 0;
                sender.modify(BindingId(i), self.modified(i, odd)).map_err(e)?;
            }
        }
        Ok(())
    }

    /// Binding `i` after its next modification (`odd`: the changed form, else back to the original).
    fn modified(&self, i: u32, odd: bool) -> Binding {
        let mut b = traffic::binding(self.direction.function, self.direction.family, i);
        if !odd {
            return b;
        }
        match self.direction.function {
            Function::Lma => {
                b.tunnel = match b.tunnel {
                    TunnelEndpoints::Ipv6 { local, .. } => {
                        TunnelEndpoints::Ipv6 { local, remote: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2) }
                    }
                    TunnelEndpoints::Ipv4 { local, .. } => {
                        TunnelEndpoints::Ipv4 { local, remote: Ipv4Addr::new(192, 0, 2, 2) }
                    }
                }
            }
            Function::Mag => b.uplink_key = b.uplink_key.map(|k| k ^ 0x0800_0000),
        }
        b
    }
}
