//! The fast path's wiring: pipeline config from the ports, tables with the static bindings, one worker per
//! worker lcore (RSS queue w of every port, tx queue w of every port), and the control thread's punt loop.

use dataplane::neighbor::ndp::link_local_from_mac;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use dataplane::admission::{Admission, AdmissionConfig};
use dataplane::binding::{Binding, BindingId, Function};
use dataplane::counters::{BindingSnapshot, CountersHandle, CountersSnapshot, DropReason};
use dataplane::dpdk::{cpu_cycles, cycles_per_second, Eal, Mempool, Port, QueueId};
use dataplane::idle::Idler;
use dataplane::neighbor::CacheTimers;
use dataplane::nexthop::PortNextHops;
use dataplane::pipeline::{FastPath, PipelineConfig, PortConfig};
use dataplane::reassembly::{Reassembler, ReassemblyConfig, MAX_PIECES};
use dataplane::runtime::{launch, port_queues, WorkerQueues};
use dataplane::steering::{worker_rules, Steering};
use dataplane::tables::UpdateSender;
use dataplane::wire::ethernet::MacAddr;
use dataplane::worker::{inject_queue, punt_queue, Exit, Worker};
use dataplane::PortIndex;
use serde_json::json;

use crate::config::{Config, PortSection, RoleName, StaticTables};
use crate::control::{Control, ControlPort, ControlStats, Procedures};
use controlplane::fastpath::TunnelId;
use dataplane::neighbor::{Neighbors, PortNeighbors};

/// Frames the control thread may have waiting for a worker to transmit.
const INJECT_QUEUE_DEPTH: usize = 1024;

/// How long a management request waits for the control thread: `pdn create` answers only after the PBA, which
/// may take the whole retransmission back-off (1 + 2 + ... + 32 s, RFC 6275 §13). `pmipctl` has its own timeout.
const API_TIMEOUT: Duration = Duration::from_secs(150);

/// How long a metrics scrape waits for the control thread (Prometheus scrapes time out after about 10 s).
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// What a fast-path run did, for the final report.
pub struct Outcome {
    pub exit: Exit,
    pub per_worker: Vec<CountersSnapshot>,
    pub total: CountersSnapshot,
    /// The static bindings still installed: their index among the static bindings (config order), slot, binding
    /// as it is now, and traffic.
    pub bindings: Vec<(usize, BindingId, Binding, BindingSnapshot)>,
    /// Packets the control thread received from the workers.
    pub punts_received: u64,
    /// Signalling admitted and rate-limited per source address (`None`: the sources that shared the overflow
    /// bucket), over all workers.
    pub admission: std::collections::BTreeMap<Option<std::net::IpAddr>, (u64, u64)>,
    /// With `[lma]` / `[mag]`: what the control thread did, and the procedures' own statistics.
    pub control: Option<(ControlStats, Option<controlplane::api::Stats>)>,
    /// How each port's received tunnels reach their workers, by port name.
    pub steering: Vec<(String, Steering)>,
}

/// Steers the GRE packets of every `core` port to the worker their key names ([`dataplane::steering`]), where
/// the device can; where it cannot, the port keeps RSS and the reason is logged and reported.
fn steer(config: &Config, ports: &[(&PortSection, Port)], workers: usize) -> Result<Vec<(String, Steering)>, String> {
    let placement = config.placement(workers as u32).map_err(|(key, problem)| format!("key '{key}': {problem}"))?;
    let rules = worker_rules(placement.worker_bits, workers as u16);
    let mut steering = Vec::new();
    for (section, port) in ports {
        let how = if rules.is_empty() || !section.roles.contains(&RoleName::Core) {
            Steering::None
        } else {
            match port.steer(&rules) {
                Ok(rules) => Steering::ByKey { rules },
                Err(e) => Steering::Rss { reason: e.to_string() },
            }
        };
        match &how {
            Steering::None => {}
            Steering::ByKey { .. } => tracing::info!(port = %section.name, steering = %how, "tunnels steered by key"),
            Steering::Rss { .. } => {
                tracing::warn!(port = %section.name, steering = %how, "tunnels spread by RSS: every worker holds every binding")
            }
        }
        steering.push((section.name.clone(), how));
    }
    Ok(steering)
}

/// Queues each port needs: one rx and one tx queue per worker (the control thread transmits through a worker's
/// inject queue, so it needs none of its own).
pub fn queues(workers: usize) -> (u16, u16) {
    (workers as u16, workers as u16)
}

/// What a start read while EAL came up: the static bindings, and the durable state of a gateway with
/// signalling.
pub struct Start {
    pub tables: StaticTables,
    pub state: Option<crate::state::StateStart>,
}

/// Runs the fast path on `ports` (already started) until the workers exit.
pub fn run(
    eal: &Eal,
    config: &Config,
    start: Start,
    ports: &[(&PortSection, Port)],
    pool: &Arc<Mempool>,
    idle_exit: Option<Duration>,
    stop: &Arc<AtomicBool>,
) -> Result<Outcome, String> {
    let pipeline = pipeline_config(config, ports)?;
    let g = &config.gateway;
    let Start { tables: StaticTables { tables, installed }, state } = start;
    let installing = std::time::Instant::now();

    // Everything the control thread needs that can fail is set up before any worker runs, and the bindings a
    // warm start restores are in the tables before the workers take them.
    let worker_count = eal.worker_lcores().len().max(1);
    let steering = steer(config, ports, worker_count)?;
    let signalling = match state {
        Some(state) => Some(SignallingSetup::new(config, state, worker_count as u32)?),
        None => None,
    };
    let (inject_tx, inject_rx) = inject_queue(INJECT_QUEUE_DEPTH);
    let (mut control, mut bare_tables) = match signalling {
        Some(setup) => {
            let neighbors = neighbors(config, ports, &pipeline);
            (Some(setup.into_control(config, ports, pool, tables, inject_tx, neighbors)?), None)
        }
        None => {
            drop(inject_tx);
            (None, Some(tables))
        }
    };

    let lcores = eal.worker_lcores();
    let policy = config.idle_policy();
    let (punt_tx, punt_rx) = punt_queue(g.punt_queue_depth);
    let mut all_counters = Vec::new();
    let mut admissions = Vec::new();
    let mut handles = Vec::new();
    for w in 0..worker_count {
        let tables = match (&mut control, &mut bare_tables) {
            (Some(control), _) => control.tables_mut(),
            (None, Some(tables)) => tables,
            (None, None) => return Err("no tables".into()),
        };
        let table = tables.add_worker().map_err(|e| e.to_string())?;
        let fast_path = FastPath::new(&pipeline, table).map_err(|e| e.to_string())?;
        all_counters.push(Arc::clone(fast_path.counters()));
        let WorkerQueues { rx, tx } =
            port_queues(ports.iter().map(|(_, port)| port), QueueId(w as u16)).map_err(|e| e.to_string())?;
        let idler = Idler::new(policy, idle_exit, cycles_per_second(), cpu_cycles());
        let inject = (w == 0).then(|| inject_rx.clone());
        // Fragments held wait in packet buffers the receive rings then lack: an eighth of the pool over all
        // workers at most, so fragments that never complete cannot starve the ports.
        let max_held = (pool.size() as usize / 8 / worker_count).max(MAX_PIECES);
        let reassembly = Reassembler::new(ReassemblyConfig {
            entries: g.reassembly_entries,
            max_held,
            timeout_ns: g.reassembly_timeout_ms * 1_000_000,
        });
        let pool = Some(Arc::clone(pool));
        let admission =
            Admission::new(AdmissionConfig { rate: g.signalling_rate_per_peer, burst: g.signalling_burst_per_peer });
        admissions.push(Arc::clone(&admission));
        let punt = punt_tx.clone();
        let worker = Worker { fast_path, rx, tx, punt, admission, inject, idler, pool, reassembly };
        handles.push(launch(eal, lcores.get(w).copied(), worker, Arc::clone(stop))?);
    }
    drop(punt_tx);
    let counters = CountersHandle::new(all_counters).with_admissions(admissions);
    tracing::info!(
        workers = worker_count,
        ?lcores,
        ?policy,
        ?idle_exit,
        bindings = installed.len(),
        tables_ms = installing.elapsed().as_millis() as u64,
        "fast path running"
    );

    // The control thread runs here, on the main lcore, until every worker has ended and closed the punt queue.
    let mut punts_received = 0u64;
    let report;
    let control = match (control, bare_tables) {
        (Some(mut control), _) => {
            control.attach_counters(counters.clone());
            control.set_steering(&steering);
            control.run(&punt_rx);
            punts_received = control.stats.punted;
            let stats = control.final_stats();
            report = static_report(&installed, control.tables(), &counters);
            Some((control.stats.clone(), stats))
        }
        (None, tables) => {
            let Some(tables) = tables else { return Err("no tables".into()) };
            // No procedures: punted packets are counted and freed.
            while let Ok(punted) = punt_rx.recv_timeout(Duration::from_millis(100), &[]) {
                if let Some(punted) = punted {
                    punts_received += 1;
                    drop(punted);
                }
            }
            report = static_report(&installed, &tables, &counters);
            None
        }
    };
    let mut exit = Exit::Idle;
    for handle in handles {
        match handle.join() {
            Some(Exit::Stopped) => exit = Exit::Stopped,
            Some(Exit::Idle) => {}
            None => return Err("a worker failed (panicked)".into()),
        }
    }
    Ok(Outcome {
        exit,
        per_worker: counters.per_worker(),
        total: counters.total(),
        bindings: report,
        punts_received,
        admission: counters.peer_admission(),
        control,
        steering,
    })
}

/// The static bindings as they are now, in config order, with their traffic. Only the control plane's own
/// tunnels are ever removed, so a static binding's slot still holds it at exit.
fn static_report(
    installed: &[BindingId],
    tables: &UpdateSender,
    counters: &CountersHandle,
) -> Vec<(usize, BindingId, Binding, BindingSnapshot)> {
    let table = tables.table();
    let report = |(i, &id): (usize, &BindingId)| table.get(id).map(|binding| (i, id, *binding, counters.binding(id)));
    installed.iter().enumerate().filter_map(report).collect()
}

fn pipeline_config(config: &Config, ports: &[(&PortSection, Port)]) -> Result<PipelineConfig, String> {
    let mut port_configs = Vec::new();
    for (i, (section, port)) in ports.iter().enumerate() {
        let key = |e: dataplane::dpdk::DpdkError| format!("key 'port[{i}]': {e}");
        let (roles, mac) = (config.roles(i), MacAddr(port.mac_address().map_err(key)?));
        let (icmp_source_v4, icmp_source_v6) = config.icmp_sources(i);
        // The UEs are on the access link itself: without a global address the port's link-local one may tell them
        // (RFC 4443 §2.2); beyond a router it could not.
        let icmp_source_v6 = icmp_source_v6.or_else(|| roles.access.then(|| link_local_from_mac(mac)));
        port_configs.push(PortConfig {
            roles,
            mac,
            next_hop_mac: section.next_hop_mac,
            mtu: port.mtu().map_err(key)?,
            tx_ipv4_checksum_offload: port.tx_ipv4_checksum_offloaded(),
            icmp_source_v4,
            icmp_source_v6,
            outer_dscp: section.outer_dscp.to_pipeline().map_err(|e| format!("key 'port[{i}].outer_dscp': {e}"))?,
        });
    }
    let g = &config.gateway;
    let tunnel_ends: Vec<_> = g.lmaa.iter().chain(&g.proxy_coa).collect();
    let mut host_addresses: Vec<std::net::IpAddr> = Vec::new();
    for section in config.ports.iter() {
        host_addresses.extend(section.addresses.iter().filter(|a| !tunnel_ends.contains(a)));
    }
    let pipeline = PipelineConfig {
        ports: port_configs,
        lmaa: g.lmaa.clone(),
        proxy_coa: g.proxy_coa.clone(),
        outer_hop_limit: g.outer_hop_limit,
        inner_source_check: g.inner_source_check,
        host_addresses,
        next_hops: Arc::new(PortNextHops::new()),
        icmp_errors_per_second: g.icmp_errors_per_second,
        clock: dataplane::pipeline::Clock::monotonic(),
    };
    pipeline.validate().map_err(|e| format!("key 'port': {e}"))?;
    Ok(pipeline)
}

/// Prints the counters: per port (by name), what the pipeline did, every drop reason that occurred, and each
/// static binding's traffic.
pub fn print_report(outcome: &Outcome, port_names: &[String]) {
    let total = &outcome.total;
    println!("{:<16} {:>12} {:>14} {:>12} {:>14}", "port", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes");
    for (name, port) in port_names.iter().zip(&total.ports) {
        println!(
            "{name:<16} {:>12} {:>14} {:>12} {:>14}",
            port.rx_packets, port.rx_bytes, port.tx_packets, port.tx_bytes
        );
    }
    println!(
        "workers {}: encapsulated {}, decapsulated {}, punted {}, dropped {}",
        outcome.per_worker.len(),
        total.encapsulated,
        total.decapsulated,
        total.punted,
        total.total_drops()
    );
    for reason in DropReason::ALL {
        let count = total.drops(reason);
        if count != 0 {
            println!("  drop {:<24} {count}", reason.name());
        }
    }
    if total.icmp_errors_sent + total.icmp_rate_limited != 0 {
        println!("  icmp errors sent {}, rate-limited {}", total.icmp_errors_sent, total.icmp_rate_limited);
    }
    for (peer, (admitted, limited)) in outcome.admission.iter().filter(|(_, (_, limited))| *limited != 0) {
        let peer = peer.map_or("other sources".to_string(), |p| p.to_string());
        println!("  signalling from {peer}: {admitted} admitted, {limited} over its share (signalling-rate-limited)");
    }
    if total.fragmented + total.reassembly_fragments != 0 {
        println!(
            "  fragmented {} packets into {} fragments; {} outer fragments in, {} packets rebuilt",
            total.fragmented, total.fragments, total.reassembly_fragments, total.reassembled
        );
    }
    // Numbered in config order (`binding[i]`, then the bindings file's lines); the table slot is in the JSON.
    for (i, _, binding, traffic) in &outcome.bindings {
        println!(
            "binding {i} ({}{}{}): uplink {} pkts {} bytes, downlink {} pkts {} bytes",
            function_name(binding.function),
            binding.ue_ipv4.map(|a| format!(" {a}")).unwrap_or_default(),
            binding.ue_ipv6_prefix.map(|p| format!(" {p}/64")).unwrap_or_default(),
            traffic.uplink_packets,
            traffic.uplink_bytes,
            traffic.downlink_packets,
            traffic.downlink_bytes
        );
    }
    println!("control thread: {} punted packets received", outcome.punts_received);
    if let Some((control, stats)) = &outcome.control {
        println!(
            "signalling: {} received, {} sent, {} malformed, {} not sent; ARP answered {}, ND answered {}; \
             table updates {} applied, {} refused",
            control.signalling_received,
            control.signalling_sent,
            control.signalling_malformed,
            control.send_failed,
            control.arp_answered,
            control.nd_answered,
            control.updates_installed,
            control.updates_refused
        );
        if let Some(stats) = stats {
            println!("{:?}: {} bindings, {} keys in use", stats.function, stats.bindings, stats.keys_in_use);
            for m in &stats.signalling {
                let status = m.status.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
                println!("  {} {}{status}: {}", m.direction, m.message, m.count);
            }
        }
    }
}

fn function_name(function: Function) -> &'static str {
    match function {
        Function::Lma => "lma",
        Function::Mag => "mag",
    }
}

/// The counters as JSON (`--counters-json`).
pub fn report_json(outcome: &Outcome, port_names: &[String]) -> serde_json::Value {
    let snapshot = |s: &CountersSnapshot| {
        json!({
            "ports": port_names.iter().zip(&s.ports).map(|(name, p)| json!({
                "name": name, "rx_packets": p.rx_packets, "rx_bytes": p.rx_bytes,
                "tx_packets": p.tx_packets, "tx_bytes": p.tx_bytes,
            })).collect::<Vec<_>>(),
            "encapsulated": s.encapsulated,
            "decapsulated": s.decapsulated,
            "punted": s.punted,
            "dropped": s.total_drops(),
            "drops": DropReason::ALL.iter().map(|r| (r.name().to_owned(), json!(s.drops(*r)))).collect::<serde_json::Map<_, _>>(),
            "icmp_errors_sent": s.icmp_errors_sent,
            "icmp_rate_limited": s.icmp_rate_limited,
            "fragmented": s.fragmented,
            "fragments": s.fragments,
            "reassembly_fragments": s.reassembly_fragments,
            "reassembled": s.reassembled,
            "fragments_reassembled": s.fragments_reassembled,
            "reassembly_held": s.reassembly_held,
            "updates_applied": s.updates_applied,
            "updates_refused": s.updates_refused,
            "table_bindings": s.table_bindings,
            "table_index_entries": s.table_index_entries,
            "retired": {
                "uplink_packets": s.retired.uplink_packets, "uplink_bytes": s.retired.uplink_bytes,
                "downlink_packets": s.retired.downlink_packets, "downlink_bytes": s.retired.downlink_bytes,
            },
        })
    };
    json!({
        "total": snapshot(&outcome.total),
        "workers": outcome.per_worker.iter().map(snapshot).collect::<Vec<_>>(),
        "steering": outcome.steering.iter().map(|(port, how)| json!({ "port": port, "steering": how.to_string() }))
            .collect::<Vec<_>>(),
        "bindings": outcome.bindings.iter().map(|(i, id, b, t)| json!({
            "id": i, "slot": id.0, "function": function_name(b.function),
            "uplink_key": b.uplink_key, "downlink_key": b.downlink_key,
            "uplink_packets": t.uplink_packets, "uplink_bytes": t.uplink_bytes,
            "downlink_packets": t.downlink_packets, "downlink_bytes": t.downlink_bytes,
        })).collect::<Vec<_>>(),
        "punts_received": outcome.punts_received,
        "signalling_admission": outcome.admission.iter().map(|(peer, (admitted, limited))| json!({
            "peer": peer.map_or("other".to_string(), |p| p.to_string()),
            "admitted": admitted, "rate_limited": limited,
        })).collect::<Vec<_>>(),
        "control": outcome.control.as_ref().map(|(control, stats)| json!({ "thread": control, "procedures": stats })),
    })
}

/// The signalling side, set up before the workers start so that a failure (a state file, a socket in use) stops
/// the gateway before it forwards anything.
struct SignallingSetup {
    procedures: Procedures,
    state: crate::state::StateStart,
    api_calls: Vec<std::sync::mpsc::Receiver<controlplane::api::ApiCall>>,
    _api_server: controlplane::api::ApiServer,
    _metrics: Option<controlplane::metrics::MetricsServer>,
}

impl SignallingSetup {
    fn new(config: &Config, state: crate::state::StateStart, workers: u32) -> Result<Self, String> {
        let restart_counter = state.restart_counter;
        let named = |(key, problem): (String, String)| format!("key '{key}': {problem}");
        let procedures = match (config.lma_config(workers).map_err(named)?, config.mag_config(workers).map_err(named)?)
        {
            (Some(lma), _) => Procedures::Lma(Box::new(
                controlplane::lma::Lma::new(lma, restart_counter).map_err(|e| format!("key 'lma.{e}'"))?,
            )),
            (None, Some(mag)) => Procedures::Mag(Box::new(
                controlplane::mag::Mag::new(mag, restart_counter).map_err(|e| format!("key 'mag.{e}'"))?,
            )),
            (None, None) => return Err("no [lma] or [mag] section".into()),
        };
        let (handler, api_rx) = controlplane::api::channel(API_TIMEOUT);
        let api_server =
            controlplane::api::serve(&config.api.socket, handler).map_err(|e| format!("key 'api.socket': {e}"))?;
        let mut api_calls = vec![api_rx];
        let metrics = if config.metrics.enabled {
            let (handler, metrics_rx) = controlplane::api::channel(METRICS_TIMEOUT);
            api_calls.push(metrics_rx);
            let server = controlplane::metrics::spawn(config.metrics.listen, move || {
                controlplane::metrics::render_from(&handler)
            })
            .map_err(|e| format!("key 'metrics.listen': {}: {e}", config.metrics.listen))?;
            tracing::info!(address = %server.local_addr(), "metrics endpoint");
            Some(server)
        } else {
            None
        };
        tracing::info!(socket = %config.api.socket.display(), restart_counter, "management API");
        Ok(SignallingSetup { procedures, state, api_calls, _api_server: api_server, _metrics: metrics })
    }

    #[allow(clippy::too_many_arguments)]
    /// The control thread, its durable state restored into `tables` (before any worker takes them).
    fn into_control(
        self,
        config: &Config,
        ports: &[(&PortSection, Port)],
        pool: &Arc<Mempool>,
        tables: UpdateSender,
        inject: crossbeam_channel::Sender<dataplane::worker::Injected>,
        neighbors: Neighbors<TunnelId>,
    ) -> Result<ControlWithServers, String> {
        let control_ports = ports
            .iter()
            .enumerate()
            .map(|(i, (section, port))| ControlPort {
                name: section.name.clone(),
                mac: port.mac_address().map(MacAddr).unwrap_or_default(),
                core: section.roles.contains(&RoleName::Core),
                access: section.roles.contains(&RoleName::Access),
                mtu: port.mtu().unwrap_or(1500),
                addresses: config.port_addresses(i),
            })
            .collect();
        let mut control = Control::new(
            self.procedures,
            tables,
            CountersHandle::new(Vec::new()),
            control_ports,
            neighbors,
            inject,
            Arc::clone(pool),
            self.api_calls,
        );
        control.warm_start(self.state)?;
        Ok(ControlWithServers { control, _api_server: self._api_server, _metrics: self._metrics })
    }
}

/// Neighbour resolution for every port, publishing into the pipeline's next hops.
fn neighbors(config: &Config, ports: &[(&PortSection, Port)], pipeline: &PipelineConfig) -> Neighbors<TunnelId> {
    let mut statics = Vec::new();
    let described = ports
        .iter()
        .enumerate()
        .map(|(i, (section, port))| {
            let mac = port.mac_address().map(MacAddr).unwrap_or_default();
            let own = config.port_addresses(i);
            statics.extend(section.neighbors.iter().map(|n| (PortIndex(i), n.ip, n.mac)));
            let ipv4 = own.iter().find_map(|a| match a {
                std::net::IpAddr::V4(v4) => Some(*v4),
                std::net::IpAddr::V6(_) => None,
            });
            let ipv6 = own.iter().find_map(|a| match a {
                std::net::IpAddr::V6(v6) => Some(*v6),
                std::net::IpAddr::V4(_) => None,
            });
            PortNeighbors {
                mac,
                ipv4,
                ipv6: ipv6.unwrap_or_else(|| dataplane::neighbor::ndp::link_local_from_mac(mac)),
                fixed: section.next_hop_mac,
                gateways: [
                    section.next_hop.iter().copied().find(|a| a.is_ipv4()),
                    section.next_hop.iter().copied().find(|a| a.is_ipv6()),
                ],
            }
        })
        .collect();
    Neighbors::new(described, &statics, Arc::clone(&pipeline.next_hops), CacheTimers::default())
}

/// The control thread's state with the servers that feed it (stopped when this is dropped).
struct ControlWithServers {
    control: Control,
    _api_server: controlplane::api::ApiServer,
    _metrics: Option<controlplane::metrics::MetricsServer>,
}

impl std::ops::Deref for ControlWithServers {
    type Target = Control;
    fn deref(&self) -> &Control {
        &self.control
    }
}

impl std::ops::DerefMut for ControlWithServers {
    fn deref_mut(&mut self) -> &mut Control {
        &mut self.control
    }
}
