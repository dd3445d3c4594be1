//! `pmipgw`: the gateway process. Wiring only: config → EAL → mempool → ports → fast path (or, for a plumbing
//! check, L2 forwarding) → counters.

mod config;
mod control;
mod gateway;
mod state;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use dataplane::dpdk::{
    cpu_cycles, cycles_per_second, DeviceStats, Eal, Mempool, MempoolConfig, Port, PortSetup, QueueId,
};
use dataplane::idle::Idler;
use dataplane::l2fwd::{self, ForwardCounters, ForwardPath};
use dataplane::wire::ethernet::MacAddr;
use dataplane::worker;
use serde_json::json;

use config::{Config, StaticTables};

/// A DPDK PMIPv6 (3GPP TS 29.275) MAG/LMA user-plane gateway.
#[derive(Parser, Debug)]
#[command(name = "pmipgw", version, about)]
struct Cli {
    /// The gateway's TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: another instance of this gateway's cluster (repeatable); every pair must hand out
    /// disjoint GRE keys and home addresses.
    #[arg(long, value_name = "FILE", requires = "check_config")]
    cluster_with: Vec<PathBuf>,
    /// Exit cleanly once no packet has arrived for this many milliseconds (overrides [run] exit_when_idle_ms).
    #[arg(long, value_name = "MS")]
    exit_when_idle_ms: Option<u64>,
    /// Start without the stored binding state (a corrupt or unwanted journal): every binding is lost, the
    /// restart counter is incremented, and the former peers are told at once (RFC 5847 unsolicited Heartbeat
    /// Response).
    #[arg(long)]
    discard_state: bool,
    /// Also write the final counters as JSON to this file.
    #[arg(long, value_name = "FILE")]
    counters_json: Option<PathBuf>,
    /// Extra EAL arguments, after `--`.
    #[arg(last = true, value_name = "EXTRA_EAL_ARGS")]
    eal_args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The static bindings (a million take about a second) are installed on another thread while EAL starts;
    // `--check-config` installs them here.
    let read = if cli.check_config { Config::load } else { Config::read };
    let mut config = match read(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    config.state.discard = cli.discard_state;
    if cli.check_config {
        println!("config {}: OK ({} ports)", cli.config.display(), config.ports.len());
        if cli.cluster_with.is_empty() {
            return ExitCode::SUCCESS;
        }
        let mut cluster = vec![(cli.config.clone(), config)];
        for path in &cli.cluster_with {
            match Config::load(path) {
                Ok(other) => cluster.push((path.clone(), other)),
                Err(err) => {
                    eprintln!("error: {err}");
                    return ExitCode::from(2);
                }
            }
        }
        return match config::check_cluster(&cluster) {
            Ok(()) => {
                println!("cluster of {}: OK (disjoint keys and home addresses)", cluster.len());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        };
    }
    init_logging(&config);
    let outcome = std::thread::scope(|scope| {
        let tables = scope.spawn(|| {
            let started = std::time::Instant::now();
            let loaded = config.static_tables(&cli.config);
            if let Ok(Some(loaded)) = &loaded {
                let (bindings, ms) = (loaded.installed.len(), started.elapsed().as_millis() as u64);
                tracing::info!(bindings, ms, "static bindings installed");
            }
            loaded
        });
        // The durable state (a million bindings take a second or two to read) is read meanwhile too.
        let state = scope.spawn(|| config.has_procedures().then(|| state::open(&config)));
        run(&cli, &config, tables, state)
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(Failure::Run(err)) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Why a run ended early: the config (exit status 2, as when it is read) or anything else.
enum Failure {
    Config(config::ConfigError),
    Run(String),
}

impl From<String> for Failure {
    fn from(problem: String) -> Self {
        Failure::Run(problem)
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(config.run.log_level.as_deref().unwrap_or("info")))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn run(cli: &Cli, config: &Config, tables: StaticLoad<'_>, state: StateLoad<'_>) -> Result<(), Failure> {
    // `-l 0-3` names lcores = CPUs; `--lcores` syntax (`0@(0-1)`, lcore groups) maps lcores onto CPU sets, e.g.
    // to let a gateway float over shared cores. EAL refuses `--lcores` next to `-l`, so the form is chosen here.
    let lcores_option = if config.dpdk.lcores.contains(['@', '(']) { "--lcores" } else { "-l" };
    let mut eal_args = vec!["pmipgw".to_owned(), lcores_option.to_owned(), config.dpdk.lcores.clone()];
    eal_args.extend(config.dpdk.eal_args.iter().cloned());
    eal_args.extend(cli.eal_args.iter().cloned());
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| format!("installing a signal handler: {e}"))?;
    }
    let idle_exit = cli.exit_when_idle_ms.map(Duration::from_millis).or(config.exit_when_idle());

    let outcome = {
        let pool = Arc::new(
            Mempool::create(&MempoolConfig {
                cache_size: config.dpdk.mempool_cache,
                data_room: config.dpdk.mbuf_size + 128,
                ..MempoolConfig::new("pmipgw_pool", config.dpdk.mempool_size)
            })
            .map_err(|e| format!("key 'dpdk.mempool_size': {e}"))?,
        );
        let ports = open_ports(&eal, config, &pool)?;
        let tables = match tables.join() {
            Ok(loaded) => loaded.map_err(Failure::Config)?,
            Err(_) => return Err(Failure::Run("loading the static bindings failed (panicked)".into())),
        };
        let state = match state.join() {
            Ok(state) => state.transpose()?,
            Err(_) => return Err(Failure::Run("reading the durable state failed (panicked)".into())),
        };
        let result = match tables {
            Some(tables) => {
                gateway::run(&eal, config, gateway::Start { tables, state }, &ports, &pool, idle_exit, &stop)
                    .map(|o| Processing::FastPath(Box::new(o)))
            }
            None => forward(config, idle_exit, &stop, &ports).map(Processing::L2),
        };
        // Port statistics are read while the ports exist; closing them returns their mbufs and flushes pcaps.
        let stats: Vec<PortReport> = ports
            .iter()
            .map(|(section, port)| PortReport {
                name: section.name.clone(),
                device: section.device.clone(),
                mac: port.mac_address().map(|m| MacAddr(m).to_string()).unwrap_or_default(),
                stats: port.stats().unwrap_or_default(),
            })
            .collect();
        drop(ports);
        let in_use = pool.in_use();
        (result?, stats, in_use, config.dpdk.mempool_size)
    };
    drop(eal);
    let (processing, stats, in_use, pool_size) = outcome;
    Ok(report(cli, &processing, &stats, in_use, pool_size)?)
}

/// The thread installing the static bindings ([`Config::static_tables`]).
type StaticLoad<'scope> = std::thread::ScopedJoinHandle<'scope, Result<Option<StaticTables>, config::ConfigError>>;
/// The thread reading the durable state, for a gateway with signalling ([`state::open`]).
type StateLoad<'scope> = std::thread::ScopedJoinHandle<'scope, Option<Result<state::StateStart, String>>>;

/// What ran, and its counters.
enum Processing {
    FastPath(Box<gateway::Outcome>),
    L2((worker::Exit, Vec<(String, String, ForwardCounters)>)),
}

fn open_ports<'c>(
    eal: &Eal,
    config: &'c Config,
    pool: &Arc<Mempool>,
) -> Result<Vec<(&'c config::PortSection, Port)>, String> {
    let mut ports = Vec::new();
    let workers = eal.worker_lcores().len().max(1);
    for (i, section) in config.ports.iter().enumerate() {
        eal.probe_device(&section.probe_args()).map_err(|e| format!("key 'port[{i}].device': {e}"))?;
        let (rx_queues, tx_queues) = if config.is_fast_path() {
            gateway::queues(workers)
        } else {
            // One tx queue per path that sends out of this port, so each path owns its queue.
            let senders = config.ports.iter().filter(|p| p.forward_to.as_deref() == Some(&section.name)).count();
            (1, senders.max(1) as u16)
        };
        let port_config = PortSetup {
            rx_queues,
            tx_queues,
            rx_descriptors: config.dpdk.rx_descriptors,
            tx_descriptors: config.dpdk.tx_descriptors,
            mtu: section.mtu,
            ..PortSetup::default()
        };
        let port =
            Port::open(&section.device, &port_config, pool.clone()).map_err(|e| format!("key 'port[{i}]': {e}"))?;
        port.start().map_err(|e| format!("key 'port[{i}]': {e}"))?;
        let caps = port.capabilities();
        tracing::info!(
            port = %section.name, device = %section.device, id = port.id(), driver = %caps.driver,
            rx_ipv4_checksum_offload = port.rx_ipv4_checksum_offloaded(),
            tx_ipv4_checksum_offload = port.tx_ipv4_checksum_offloaded(),
            "port started"
        );
        ports.push((section, port));
    }
    Ok(ports)
}

/// A port's identity and device counters, read before it is closed.
struct PortReport {
    name: String,
    device: String,
    mac: String,
    stats: DeviceStats,
}

type ForwardOutcome = (worker::Exit, Vec<(String, String, ForwardCounters)>);

fn forward(
    config: &Config,
    idle_exit: Option<Duration>,
    stop: &AtomicBool,
    ports: &[(&config::PortSection, Port)],
) -> Result<ForwardOutcome, String> {
    let mut paths = Vec::new();
    let mut names = Vec::new();
    let mut next_tx_queue = vec![0u16; ports.len()];
    for (section, port) in ports {
        let Some(target) = &section.forward_to else { continue };
        let (index, (target_section, target_port)) =
            ports.iter().enumerate().find(|(_, (s, _))| &s.name == target).expect("validated: forward_to names a port");
        let tx = target_port.tx_queue(QueueId(next_tx_queue[index])).map_err(|e| e.to_string())?;
        next_tx_queue[index] += 1;
        paths.push(ForwardPath {
            rx: port.rx_queue(QueueId(0)).map_err(|e| e.to_string())?,
            tx,
            src_mac: target_port.mac_address().map_err(|e| e.to_string())?,
            dst_mac: target_section.next_hop_mac.map(|m| m.0).unwrap_or([0xff; 6]),
            counters: ForwardCounters::default(),
        });
        names.push((section.name.clone(), target.clone()));
    }
    if paths.is_empty() {
        tracing::warn!("no port has forward_to: nothing to forward");
    }

    let policy = config.idle_policy();
    let mut idler = Idler::new(policy, idle_exit, cycles_per_second(), cpu_cycles());
    tracing::info!(paths = paths.len(), ?policy, ?idle_exit, "forwarding");
    let exit = l2fwd::run(&mut paths, &mut idler, stop);
    let counters = names.into_iter().zip(paths).map(|((from, to), path)| (from, to, path.counters)).collect();
    Ok((exit, counters))
}

fn report(
    cli: &Cli,
    processing: &Processing,
    ports: &[PortReport],
    mbufs_in_use: u32,
    pool_size: u32,
) -> Result<(), String> {
    let stopped = match processing {
        Processing::FastPath(outcome) => outcome.exit == worker::Exit::Stopped,
        Processing::L2((exit, _)) => *exit == worker::Exit::Stopped,
    };
    let why = if stopped { "stopped by signal" } else { "input idle" };
    println!("pmipgw: {why}; final counters");
    let port_names: Vec<String> = ports.iter().map(|p| p.name.clone()).collect();
    match processing {
        Processing::FastPath(outcome) => gateway::print_report(outcome, &port_names),
        Processing::L2((_, paths)) => print_paths(paths),
    }
    println!(
        "{:<24} {:>12} {:>12} {:>10} {:>10} {:>10} {:>11}",
        "port (device)", "rx_packets", "tx_packets", "rx_missed", "rx_errors", "tx_errors", "rx_no_mbuf"
    );
    for PortReport { name, device, stats: s, .. } in ports {
        println!(
            "{:<24} {:>12} {:>12} {:>10} {:>10} {:>10} {:>11}",
            format!("{name} ({device})"),
            s.rx_packets,
            s.tx_packets,
            s.rx_missed,
            s.rx_errors,
            s.tx_errors,
            s.rx_no_mbuf
        );
    }
    println!("mempool: {mbufs_in_use} of {pool_size} mbufs in use after shutdown");

    if let Some(path) = &cli.counters_json {
        let mut doc = json!({
            "exit": if stopped { "stopped" } else { "idle" },
            "ports": ports.iter().map(|PortReport { name, device, mac, stats: s }| json!({
                "name": name, "device": device, "mac": mac, "rx_packets": s.rx_packets, "tx_packets": s.tx_packets,
                "rx_bytes": s.rx_bytes, "tx_bytes": s.tx_bytes, "rx_missed": s.rx_missed,
                "rx_errors": s.rx_errors, "tx_errors": s.tx_errors, "rx_no_mbuf": s.rx_no_mbuf,
            })).collect::<Vec<_>>(),
            "mempool": { "size": pool_size, "in_use_after_shutdown": mbufs_in_use },
        });
        match processing {
            Processing::FastPath(outcome) => doc["fastpath"] = gateway::report_json(outcome, &port_names),
            Processing::L2((_, paths)) => {
                doc["paths"] = json!(paths
                    .iter()
                    .map(|(from, to, c)| json!({
                        "from": from, "to": to, "rx_packets": c.rx_packets, "rx_bytes": c.rx_bytes,
                        "tx_packets": c.tx_packets, "tx_bytes": c.tx_bytes, "tx_dropped": c.tx_dropped,
                        "runt_dropped": c.runt_dropped,
                    }))
                    .collect::<Vec<_>>())
            }
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn print_paths(paths: &[(String, String, ForwardCounters)]) {
    println!(
        "{:<24} {:>12} {:>14} {:>12} {:>14} {:>11} {:>13}",
        "path", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_dropped", "runt_dropped"
    );
    for (from, to, c) in paths {
        println!(
            "{:<24} {:>12} {:>14} {:>12} {:>14} {:>11} {:>13}",
            format!("{from} -> {to}"),
            c.rx_packets,
            c.rx_bytes,
            c.tx_packets,
            c.tx_bytes,
            c.tx_dropped,
            c.runt_dropped
        );
    }
}
