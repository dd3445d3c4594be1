//! The throughput harness. For each scenario (direction × bindings × inner size) it generates the input pcap,
//! runs `dpdk-testpmd` io and macswap forwarding on it (the floor), then the gateway, all on the same
//! `net_pcap` device with `infinite_rx=1` and transmit dropped; it reads each one's port counters through DPDK
//! telemetry over the same window, checks the gateway's own counters, and writes a CSV, a Markdown table and a
//! PNG chart. Run it through `bench/run.sh` (see bench/README.md), as root.

use bench::dpdk_run::{self, Program, Window};
use bench::gateway_config::{self, GatewayRun, PortSpec};
use bench::pcap::{self, PcapSpec};
use bench::results::{self, Row};
use bench::traffic::{self, Direction};
use bench::{chart, procfs};
use clap::{Parser, ValueEnum};
use dataplane::binding::{Function, Way};
use dataplane::nexthop::IpFamily;
use serde::Deserialize;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "pmipgw throughput against dpdk-testpmd on net_pcap (see bench/README.md)")]
struct Cli {
    /// Where the CSV, Markdown table and chart go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Output file stem: <out>/<name>.csv, .md, .png.
    #[arg(long, default_value = "throughput")]
    name: String,
    /// Scratch space for pcaps, configs and logs (1M-binding pcaps are up to 600 MB each).
    #[arg(long, default_value = "/tmp/pmipgw-bench")]
    work: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    bindings: Vec<u32>,
    /// pmipgw's `gateway.table_capacity` (default: the run's bindings), e.g. the default 1048576 with 1k bindings.
    #[arg(long)]
    table_capacity: Option<u32>,
    /// Inner IP packet sizes.
    #[arg(long, value_delimiter = ',', default_value = "64,512")]
    sizes: Vec<usize>,
    /// Directions (lma-up-v6, ..., mag-down-v4) or "all".
    #[arg(long, value_delimiter = ',', default_value = "all")]
    directions: Vec<String>,
    /// Measured window per run, seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Forwarding before the window starts, seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Which gateway program to measure: pmipgw itself, or the fastpath driver (same dataplane crate, needed for
    /// more than one worker on a 2-core machine).
    #[arg(long, value_enum, default_value_t = Gateway::Pmipgw)]
    gateway: Gateway,
    /// Worker cores (fastpath driver only; pmipgw here runs one).
    #[arg(long, default_value_t = 1)]
    workers: u32,
    /// A mounted hugetlbfs to use; without it EAL runs with --no-huge.
    #[arg(long)]
    huge_dir: Option<PathBuf>,
    /// The pmipgw binary (default: $CARGO_TARGET_DIR or target, /release/pmipgw).
    #[arg(long)]
    pmipgw: Option<PathBuf>,
    /// The fastpath driver binary (default: next to this harness).
    #[arg(long)]
    fastpath: Option<PathBuf>,
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: String,
    /// Churn instead of throughput: the fastpath driver forwards while its control thread applies this many
    /// binding updates per second; idle and churn phases alternate (3 churn phases between 4 idle ones), each
    /// --seconds long. Writes <out>/<name>.md.
    #[arg(long)]
    churn_rate: Option<u32>,
    /// Signalling through the DPDK punt path instead of throughput: pmipgw as an LMA with its control plane
    /// reads a pcap of this many distinct initial-attach PBUs (replayed forever) on net_pcap; the worker punts
    /// them to the control thread, which answers with PBAs sent through the port. Writes <out>/<name>.md.
    #[arg(long)]
    punt_pbus: Option<u32>,
    /// With --punt-pbus: every this many PBUs one comes from a second MAG (2001:db8:1::2), the rest from the
    /// first, whose storm the second must ride out: reports each MAG's admitted share.
    #[arg(long)]
    punt_second_peer_every: Option<u32>,
    /// With --punt-pbus: run the LMA without durable state (`[state] durable = false`), for the same-run
    /// comparison of signalling with and without it.
    #[arg(long)]
    punt_not_durable: bool,
    /// New attaches through pmipgw at a paced offer: as an LMA it reads, once, a pcap of this many distinct
    /// initial-attach PBUs, each followed by --attach-fillers frames it drops at once. The rate is the accepted
    /// PBAs in its transmit capture over the time from the first to the last (their capture timestamps): each a
    /// binding created, installed on the worker and, with durable state, committed before it left. Writes
    /// <out>/<name>.md.
    #[arg(long)]
    attach_pbus: Option<u32>,
    /// With --attach-pbus: filler frames after each PBU, one run per value (0: the PBUs back to back, an offer
    /// far above what one control core answers; more fillers offer fewer PBUs per second).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    attach_fillers: Vec<u32>,
    /// Only redraw the chart and table from <out>/<name>.csv.
    #[arg(long)]
    chart_only: bool,
    /// Keep pcaps and logs in the work directory.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Gateway {
    Pmipgw,
    Fastpath,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("harness: {e}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
    let csv = cli.out.join(format!("{}.csv", cli.name));
    if cli.chart_only {
        let rows = results::read_csv(&csv).map_err(|e| e.to_string())?;
        return finish(cli, &rows);
    }
    let directions: Vec<Direction> = if cli.directions.iter().any(|d| d == "all") {
        Direction::ALL.to_vec()
    } else {
        cli.directions
            .iter()
            .map(|d| Direction::parse(d).ok_or_else(|| format!("unknown direction {d}")))
            .collect::<Result<_, _>>()?
    };
    let env = Env::new(cli)?;
    if let Some(rate) = cli.churn_rate {
        return churn(cli, &env, &directions, rate);
    }
    if let Some(n) = cli.punt_pbus {
        return punt(cli, &env, n);
    }
    if let Some(n) = cli.attach_pbus {
        return attach(cli, &env, n);
    }
    println!(
        "harness: {} gateway, {} worker(s), {} mode, {} s windows; {}, {:.0} MHz; load {}",
        match cli.gateway {
            Gateway::Pmipgw => "pmipgw",
            Gateway::Fastpath => "fastpath-driver",
        },
        cli.workers,
        env.mode_name(),
        cli.seconds,
        procfs::cpu_model(),
        env.cpu_mhz,
        procfs::load_average()
    );
    let mut rows = Vec::new();
    let mut out = File::create(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    writeln!(out, "{}", results::CSV_HEADER).map_err(|e| e.to_string())?;
    for &n in &cli.bindings {
        for &direction in &directions {
            for &size in &cli.sizes {
                let row = env.scenario(direction, n, size)?;
                println!(
                    "{:<12} {:>5} {:>4} B  gateway {:6.2} Mpps | io {:6.2} | macswap {:6.2} | x macswap {:.2}, x io {:.2} | \
                     {:4.0} cycles/pkt | RSS {:6.0} MiB | start {:4.1} s | {}",
                    row.direction,
                    results::short_count(n),
                    size,
                    row.gw_mpps,
                    row.io_mpps,
                    row.macswap_mpps,
                    row.ratio_macswap(),
                    row.ratio_io(),
                    row.cycles(row.gw_mpps),
                    row.gw_rss_mib,
                    row.gw_startup_s,
                    row.check
                );
                writeln!(out, "{}", results::csv_line(&row)).map_err(|e| e.to_string())?;
                rows.push(row);
            }
        }
        env.forget_configs(n);
    }
    finish(cli, &rows)
}

/// Churn runs: idle and churn phases in turn from the driver, into a Markdown table.
fn churn(cli: &Cli, env: &Env, directions: &[Direction], rate: u32) -> Result<(), String> {
    let mut table = String::from(
        "| scenario | bindings | inner B | idle Mpps (mean) | churn Mpps (mean) | × idle (median; min–max) | worker time on \
         updates | updates/s | applied | refused | drops | mode | date |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for &n in &cli.bindings {
        for &direction in directions {
            for &size in &cli.sizes {
                let inputs = env.inputs(direction, n, size)?;
                let stem = format!("{direction}-{n}-{size}-churn");
                let result = cli.work.join(format!("log/{stem}.json"));
                let log = cli.work.join(format!("log/{stem}.log"));
                let mut argv = env.fastpath_argv(direction, &inputs, n);
                let eal = argv.split_off(argv.iter().position(|a| a == "--").unwrap_or(argv.len()));
                argv.extend([
                    "--churn-rate".into(),
                    rate.to_string(),
                    "--phase-seconds".into(),
                    cli.seconds.to_string(),
                    "--result".into(),
                    result.display().to_string(),
                ]);
                argv.extend(eal);
                let _ = std::fs::remove_file(&result);
                let file = File::create(&log).map_err(|e| e.to_string())?;
                let status = std::process::Command::new("timeout")
                    .args(["-s", "INT", "-k", "30", &env.limit_s(n).to_string()])
                    .args(&argv)
                    .stdout(file.try_clone().map_err(|e| e.to_string())?)
                    .stderr(file)
                    .status()
                    .map_err(|e| e.to_string())?;
                let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(env.prefix("fp")));
                let text = std::fs::read_to_string(&result)
                    .map_err(|_| format!("{stem}: no result ({status}): {}", dpdk_run::log_tail(&log)))?;
                let r: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
                // One row for the table and the console alike.
                let row = format!(
                    "| {direction} | {} | {size} | {:.2} | {:.2} | {:.3}; {:.3}–{:.3} | {:.2} % | {:.0} | {} | {} | {} | {} \
                     | {} |\n",
                    results::short_count(n),
                    f("idle_mean_mpps"),
                    f("churn_mean_mpps"),
                    f("ratio"),
                    f("ratio_min"),
                    f("ratio_max"),
                    f("update_share") * 100.0,
                    f("updates_per_s"),
                    r["updates_applied"],
                    r["updates_refused"],
                    r["drops"],
                    env.mode_name(),
                    env.date
                );
                print!("churn {row}");
                table.push_str(&row);
                if !cli.keep {
                    for p in &inputs {
                        let _ = std::fs::remove_file(p);
                    }
                }
            }
        }
    }
    let md = cli.out.join(format!("{}.md", cli.name));
    std::fs::write(&md, table).map_err(|e| e.to_string())?;
    println!("harness: wrote {}", md.display());
    Ok(())
}

/// The bucket of the gateway's PBU→PBA latency histogram (`signalling_latency` in its counters: from the PBU
/// reaching the control thread to its PBA leaving it) that holds quantile `q`, as "≤ bound".
fn latency_bound(histogram: &serde_json::Value, q: f64) -> String {
    let counts: Vec<u64> = histogram["counts"].as_array().into_iter().flatten().filter_map(|c| c.as_u64()).collect();
    let bounds: Vec<u64> = histogram["bounds_us"].as_array().into_iter().flatten().filter_map(|b| b.as_u64()).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return "-".into();
    }
    let mut seen = 0;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen as f64 >= q * total as f64 {
            return bounds.get(i).map_or_else(|| "> 10 s".into(), |b| format!("≤ {b} µs"));
        }
    }
    "-".into()
}

/// pmipgw as the LMA of the signalling runs for `n` PBUs on one `net_pcap` port with `devargs`, `gateway_extra`
/// in `[gateway]`, its state in `dir`.
fn lma_signalling_run(env: &Env, n: u32, program: &str, devargs: &str, gateway_extra: &str, dir: &Path) -> GatewayRun {
    GatewayRun {
        function: Function::Lma,
        family: IpFamily::V6,
        bindings: 0,
        lcores: "0-1".into(),
        eal_args: env.eal_args(&env.prefix(program), n),
        ports: PortSpec::one_armed(Function::Lma, "net_pcap0", devargs),
        mempool_size: env.mbufs(n),
        table_capacity: Some(n + 1024),
        gateway_extra: gateway_extra.into(),
        extra: lma_signalling_sections(env.cli, dir, n),
    }
}

/// The LMA of the signalling runs (one MAG, one APN with pools for millions), its restart counter, journal and
/// management socket in `dir`; durable unless --punt-not-durable.
fn lma_signalling_sections(cli: &Cli, dir: &Path, n: u32) -> String {
    format!(
        "[lma]\nallowed_mags = [\"2001:db8:1::/48\"]\ndefault_apn = \"internet\"\nmax_bindings = {capacity}\n\
         # The pcap's timestamps are from when it was written: accept them for the whole run.\n\
         timestamp_validity_window_ms = 86400000\n\
         [[lma.apns]]\nname = \"internet\"\nipv6_pool = \"2001:db8:100::/40\"\nipv4_pool = \"10.0.0.0/8\"\n\
         [lma.heartbeat]\nrestart_counter_file = \"{restart}\"\n\
         [api]\nsocket = \"{socket}\"\n[metrics]\nenabled = false\n[state]\ndurable = {durable}\n",
        capacity = n + 1024,
        restart = dir.join("restart-counter").display(),
        socket = dir.join("api.sock").display(),
        durable = !cli.punt_not_durable,
    )
}

/// New attaches per second through the real binary at each paced offer (`--attach-pbus`, `--attach-fillers`).
fn attach(cli: &Cli, env: &Env, n: u32) -> Result<(), String> {
    let mut rows = Vec::new();
    for &fillers in &cli.attach_fillers {
        let input = cli.work.join(format!("pcap/attach-{n}-f{fillers}.pcap"));
        let now = controlplane::time::SystemClock::new().now();
        bench::signalling::write_paced_pbu_pcap(&input, n, now, fillers)
            .map_err(|e| format!("{}: {e}", input.display()))?;
        let output = cli.work.join(format!("log/attach-{n}-f{fillers}-out.pcap"));
        let config = cli.work.join(format!("cfg/lma-attach-{n}-f{fillers}.toml"));
        let state = cli.work.join(format!("attach-state-{fillers}"));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
        let devargs = format!("rx_pcap={},tx_pcap={}", input.display(), output.display());
        let run = lma_signalling_run(env, n, "attach", &devargs, "signalling_rate_per_peer = 0\n", &state);
        gateway_config::write(&config, &run).map_err(|e| format!("{}: {e}", config.display()))?;
        let json = cli.work.join(format!("log/attach-{n}-f{fillers}-counters.json"));
        let log = cli.work.join(format!("log/attach-{n}-f{fillers}.log"));
        let load = procfs::load_average();
        let started = std::time::Instant::now();
        let status = std::process::Command::new("timeout")
            .args(["-k", "10", &env.limit_s(n).to_string()])
            .arg(&env.pmipgw)
            .args(["--config", &config.display().to_string(), "--exit-when-idle-ms", "1000", "--counters-json"])
            .arg(&json)
            .stdout(File::create(&log).map_err(|e| e.to_string())?)
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", env.pmipgw.display()))?;
        if !status.success() {
            return Err(format!("pmipgw exited with {status}; log {}", log.display()));
        }
        let wall = started.elapsed().as_secs_f64();
        let pbas = bench::signalling::accepted_pbas(&output).map_err(|e| format!("{}: {e}", output.display()))?;
        let c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let full = &c["fastpath"]["total"]["drops"]["punt-queue-full"];
        let latency = &c["fastpath"]["control"]["procedures"]["signalling_latency"];
        let (p50, p99) = (latency_bound(latency, 0.50), latency_bound(latency, 0.99));
        let span = pbas.last_s - pbas.first_s;
        let rate = if span > 0.0 { f64::from(pbas.accepted) / span } else { 0.0 };
        let row = format!(
            "| {} | {fillers} | {} | {:.0} | {:.2} | {p50} | {p99} | {} | {} | {:.1} | {} | {} | {} |",
            results::short_count(n),
            pbas.accepted,
            rate,
            span,
            c["fastpath"]["control"]["procedures"]["bindings"],
            full,
            wall,
            if cli.punt_not_durable { "off" } else { "on" },
            load,
            env.date
        );
        println!(
            "attach: {n} PBUs, {fillers} fillers each: {} accepted in {span:.2} s, {rate:.0} new attaches/s",
            pbas.accepted
        );
        rows.push(row);
        if !cli.keep {
            let _ = std::fs::remove_file(&input);
            let _ = std::fs::remove_file(&output);
        }
    }
    let md = cli.out.join(format!("{}.md", cli.name));
    let table = format!(
        "| PBUs offered (distinct) | fillers after each | PBAs accepted | new attaches per second | seconds, first to last PBA | PBU→PBA p50 | p99 | bindings at the end | punt-queue-full drops | run, s | durable state | load | date |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n{}\n",
        rows.join("\n")
    );
    std::fs::write(&md, table).map_err(|e| e.to_string())?;
    println!("harness: wrote {}", md.display());
    Ok(())
}

/// PBU→PBA through the real binary: the rate of PBAs leaving the port (telemetry), and what the control thread
/// and the LMA counted.
fn punt(cli: &Cli, env: &Env, n: u32) -> Result<(), String> {
    let pcap = cli.work.join(format!("pcap/pbus-{n}.pcap"));
    let now = controlplane::time::SystemClock::new().now();
    let second = cli.punt_second_peer_every;
    bench::signalling::write_pbu_pcap(&pcap, n, now, second).map_err(|e| format!("{}: {e}", pcap.display()))?;
    let config = cli.work.join(format!("cfg/lma-punt-{n}.toml"));
    // Every run starts without bindings: the journal of the last one (beside the restart counter) goes.
    let journal = cli.work.join("lma.journal");
    if let Err(e) = std::fs::remove_file(&journal) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(format!("{}: {e}", journal.display()));
        }
    }
    // The capacity figure: no per-peer share (all PBUs come from one MAG). With a second peer, the default
    // shares: what fairness looks like as an operator runs it.
    let shares = if cli.punt_second_peer_every.is_some() { "" } else { "signalling_rate_per_peer = 0\n" };
    let run = lma_signalling_run(env, n, "gw", &Env::devargs(std::slice::from_ref(&pcap)), shares, &cli.work);
    gateway_config::write(&config, &run).map_err(|e| format!("{}: {e}", config.display()))?;
    let json = cli.work.join(format!("log/pbus-{n}-counters.json"));
    let _ = std::fs::remove_file(&json);
    let argv = vec![
        env.pmipgw.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--counters-json".into(),
        json.display().to_string(),
    ];
    let log = cli.work.join(format!("log/pbus-{n}.log"));
    let program = Program { argv, file_prefix: env.prefix("gw"), log, limit_s: env.limit_s(n) };
    let load = procfs::load_average();
    let w = dpdk_run::measure(
        &program,
        Duration::from_secs(env.limit_s(n)),
        Duration::from_secs_f64(cli.warmup),
        Duration::from_secs_f64(cli.seconds),
    )?;
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    let c: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let thread = &c["fastpath"]["control"]["thread"];
    let procedures = &c["fastpath"]["control"]["procedures"];
    let full = &c["fastpath"]["total"]["drops"]["punt-queue-full"];
    // Bindings are created from the first PBA to the stop: about the warm-up plus the window.
    let created_per_s = procedures["bindings"].as_f64().unwrap_or(0.0) / (cli.warmup + cli.seconds);
    let line = format!(
        "| {} distinct PBUs | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
        results::short_count(n),
        w.tx_pps,
        created_per_s,
        env.cpu_mhz * 1e6 / w.tx_pps.max(1.0),
        thread["signalling_received"],
        thread["signalling_sent"],
        procedures["bindings"],
        full,
        thread["send_failed"],
        env.mode_name(),
        load,
        env.date
    );
    println!("punt path: {n} distinct PBUs: {:.0} PBAs per second ({})", w.tx_pps, dpdk_run::log_tail(&program.log));
    let peers: Vec<String> = c["fastpath"]["signalling_admission"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let (admitted, limited) = (p["admitted"].as_u64().unwrap_or(0), p["rate_limited"].as_u64().unwrap_or(0));
            let share = 100.0 * admitted as f64 / (admitted + limited).max(1) as f64;
            format!("{}: {admitted} admitted, {limited} rate-limited ({share:.2} % admitted)", p["peer"])
        })
        .collect();
    if !peers.is_empty() {
        println!("punt path: admission per peer: {}", peers.join("; "));
    }
    let md = cli.out.join(format!("{}.md", cli.name));
    let table = format!(
        "| input | PBAs per second | of which new bindings per second | cycles per PBA (control core) | PBUs received | \
         PBAs sent | bindings at the end | punt-queue-full drops | send failed | mode | load | date |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n{line}\n"
    );
    std::fs::write(&md, table).map_err(|e| e.to_string())?;
    if !cli.keep {
        let _ = std::fs::remove_file(&pcap);
    }
    println!("harness: wrote {}", md.display());
    Ok(())
}

/// Writes the Markdown table and the chart.
fn finish(cli: &Cli, rows: &[Row]) -> Result<(), String> {
    let md = cli.out.join(format!("{}.md", cli.name));
    std::fs::write(&md, results::markdown(rows)).map_err(|e| e.to_string())?;
    let png = cli.out.join(format!("{}.png", cli.name));
    let first = rows.first().cloned().unwrap_or_default();
    let caption = format!(
        "{} ({} worker{}) against testpmd macswap (dashed) on net_pcap, infinite_rx, tx dropped; {}; {}; {:.0} MHz",
        match cli.gateway {
            Gateway::Pmipgw => "pmipgw",
            Gateway::Fastpath => "dataplane workers (fastpath driver)",
        },
        first.workers,
        if first.workers == 1 { "" } else { "s" },
        first.mode,
        first.date,
        first.cpu_mhz
    );
    chart::draw(rows, &png, &caption)?;
    println!(
        "harness: wrote {}, {} and {}",
        cli.out.join(format!("{}.csv", cli.name)).display(),
        md.display(),
        png.display()
    );
    Ok(())
}

/// Everything fixed for the whole run.
struct Env<'c> {
    cli: &'c Cli,
    pmipgw: PathBuf,
    fastpath: PathBuf,
    cpu_mhz: f64,
    date: String,
    /// Process id and start time: names this run's DPDK runtime files.
    run_id: String,
}

impl<'c> Env<'c> {
    fn new(cli: &'c Cli) -> Result<Self, String> {
        for dir in ["pcap", "cfg", "log"] {
            std::fs::create_dir_all(cli.work.join(dir)).map_err(|e| format!("{}: {e}", cli.work.display()))?;
        }
        // Configs name this run's EAL file prefix: never reuse an earlier run's.
        if let Ok(entries) = std::fs::read_dir(cli.work.join("cfg")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| "target".into());
        let pmipgw = cli.pmipgw.clone().unwrap_or_else(|| target.join("release/pmipgw"));
        let fastpath = cli.fastpath.clone().unwrap_or_else(|| {
            std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("fastpath"))).unwrap_or_default()
        });
        let needed = match cli.gateway {
            Gateway::Pmipgw if cli.churn_rate.is_none() => &pmipgw,
            _ => &fastpath,
        };
        if !needed.exists() {
            return Err(format!("{} not found: build it first (cargo build --release)", needed.display()));
        }
        let date = std::process::Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let run_id = format!("{}-{}", std::process::id(), started.as_millis() % 1_000_000);
        Ok(Env { cli, pmipgw, fastpath, cpu_mhz: procfs::cpu_hz() / 1e6, date, run_id })
    }

    /// EAL `--file-prefix` of a program: unique to this harness run, so two harnesses (even in containers sharing
    /// /var/run/dpdk) or a leftover of an earlier run never share DPDK runtime files.
    fn prefix(&self, program: &str) -> String {
        format!("pmipgw-bench-{}-{program}", self.run_id)
    }

    fn mode_name(&self) -> &'static str {
        if self.cli.huge_dir.is_some() {
            "hugepages"
        } else {
            "no-huge"
        }
    }

    /// Mbufs for N bindings: the pcap driver keeps a copy of every input frame in the pool, plus room for
    /// bursts, descriptors and per-lcore caches.
    fn mbufs(&self, n: u32) -> u32 {
        n + 8192 + 2048 * self.cli.workers
    }

    /// EAL memory and lcore arguments, identical for testpmd and the gateway.
    fn eal_args(&self, prefix: &str, n: u32) -> Vec<String> {
        // 2.3 KB per mbuf plus DPDK's own needs; without hugepages EAL needs half as much again to place them.
        let per_mbuf = if self.cli.huge_dir.is_some() { 2432 } else { 3552 };
        let mb = u64::from(self.mbufs(n)) * per_mbuf / (1 << 20) + 512;
        let mut args: Vec<String> = Vec::new();
        match &self.cli.huge_dir {
            Some(dir) => args.extend(["--huge-dir".into(), dir.display().to_string(), "--huge-unlink".into()]),
            None => args.push("--no-huge".into()),
        }
        args.extend(["-m".into(), mb.to_string(), "--no-pci".into(), "--file-prefix".into(), prefix.into()]);
        args.extend(["--log-level".into(), "lib.eal:warning".into()]);
        args
    }

    /// `-l`/`--lcores`: main lcore on CPU 0, workers on the following lcores; with two workers on two CPUs the
    /// first worker shares CPU 0 with the (sleeping) main lcore.
    fn lcores(&self) -> Vec<String> {
        match self.cli.workers {
            1 => vec!["-l".into(), "0-1".into()],
            _ => vec!["--lcores=0@0,1@0,2@1".into()],
        }
    }

    fn inputs(&self, direction: Direction, n: u32, size: usize) -> Result<Vec<PathBuf>, String> {
        let w = self.cli.workers;
        (0..w)
            .map(|q| {
                let path = self.cli.work.join(format!("pcap/{direction}-{n}-{size}-q{q}of{w}.pcap"));
                if !path.exists() {
                    let spec = PcapSpec { worker: q, workers: w, ..PcapSpec::uniform(direction, n, size) };
                    let tmp = path.with_extension("tmp");
                    pcap::write(&tmp, &spec).map_err(|e| format!("{}: {e}", tmp.display()))?;
                    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
                }
                Ok(path)
            })
            .collect()
    }

    fn devargs(inputs: &[PathBuf]) -> String {
        let rx: Vec<String> = inputs.iter().map(|p| format!("rx_pcap={}", p.display())).collect();
        format!("{},infinite_rx=1", rx.join(","))
    }

    /// The pmipgw config for a scenario's bindings; its input pcaps (one per worker's rx queue) are symlinks the
    /// scenario points.
    fn pmipgw_config(&self, direction: Direction, n: u32) -> Result<(PathBuf, Vec<PathBuf>), String> {
        let w = self.cli.workers;
        let capacity = self.cli.table_capacity.map(|c| format!("-cap{c}")).unwrap_or_default();
        let stem = format!("{:?}-{:?}-{w}w-{n}{capacity}", direction.function, direction.family).to_lowercase();
        let config = self.cli.work.join(format!("cfg/{stem}.toml"));
        let links: Vec<PathBuf> = (0..w).map(|q| self.cli.work.join(format!("cfg/{stem}-q{q}-input.pcap"))).collect();
        if !config.exists() {
            let eal_args = self.eal_args(&self.prefix("gw"), n);
            let run = GatewayRun {
                function: direction.function,
                family: direction.family,
                bindings: n,
                // The control thread (main lcore) sleeps while only static bindings run: with two workers it
                // shares CPU 0 with the first, as testpmd's main lcore does.
                lcores: match w {
                    1 => "0-1".into(),
                    _ => "0@0,1@0,2@1".into(),
                },
                eal_args,
                ports: PortSpec::one_armed(direction.function, "net_pcap0", &Self::devargs(&links)),
                mempool_size: self.mbufs(n),
                table_capacity: self.cli.table_capacity,
                gateway_extra: String::new(),
                extra: String::new(),
            };
            gateway_config::write(&config, &run).map_err(|e| format!("{}: {e}", config.display()))?;
        }
        Ok((config, links))
    }

    /// Deletes the configs of `n` bindings (230 MB at 1M) once its scenarios are done.
    fn forget_configs(&self, n: u32) {
        if self.cli.keep {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(self.cli.work.join("cfg")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = [".toml", ".bindings"].map(|end| format!("-{n}{end}"));
                let input = name.contains(&format!("-{n}-q")) && name.ends_with("-input.pcap");
                if input || ours.iter().any(|end| name.ends_with(end.as_str())) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn testpmd(&self, mode: &str, inputs: &[PathBuf], n: u32, log: PathBuf) -> Program {
        let prefix = self.prefix(&format!("tp-{mode}"));
        let w = self.cli.workers.to_string();
        let mut argv = vec![self.cli.testpmd.clone()];
        argv.extend(self.lcores());
        argv.extend(self.eal_args(&prefix, n));
        argv.extend(["--vdev".into(), format!("net_pcap0,{}", Self::devargs(inputs)), "--".into()]);
        argv.extend([
            "--port-topology=loop".into(),
            format!("--forward-mode={mode}"),
            "--auto-start".into(),
            format!("--total-num-mbufs={}", self.mbufs(n)),
            "--mbcache=256".into(),
            "--burst=64".into(),
            format!("--rxq={w}"),
            format!("--txq={w}"),
            format!("--nb-cores={w}"),
        ]);
        Program { argv, file_prefix: prefix, log, limit_s: self.limit_s(n) }
    }

    fn limit_s(&self, n: u32) -> u64 {
        // Startup (config parse at 1M: ~30 s), the window, and the final report.
        120 + u64::from(n / 10_000) + (self.cli.seconds + self.cli.warmup) as u64
    }

    fn gateway(
        &self,
        direction: Direction,
        inputs: &[PathBuf],
        n: u32,
        log: PathBuf,
        json: &Path,
    ) -> Result<Program, String> {
        let json = json.display().to_string();
        match self.cli.gateway {
            Gateway::Pmipgw => {
                let (config, links) = self.pmipgw_config(direction, n)?;
                for (input, link) in inputs.iter().zip(&links) {
                    let _ = std::fs::remove_file(link);
                    std::os::unix::fs::symlink(input, link).map_err(|e| format!("{}: {e}", link.display()))?;
                }
                let argv = vec![
                    self.pmipgw.display().to_string(),
                    "--config".into(),
                    config.display().to_string(),
                    "--counters-json".into(),
                    json,
                ];
                Ok(Program { argv, file_prefix: self.prefix("gw"), log, limit_s: self.limit_s(n) })
            }
            Gateway::Fastpath => {
                let mut argv = self.fastpath_argv(direction, inputs, n);
                let eal = argv.split_off(argv.iter().position(|a| a == "--").unwrap_or(argv.len()));
                argv.extend(["--counters-json".into(), json]);
                argv.extend(eal);
                Ok(Program { argv, file_prefix: self.prefix("fp"), log, limit_s: self.limit_s(n) })
            }
        }
    }

    /// The fastpath driver's command line: its own options, then `--` and the EAL arguments.
    fn fastpath_argv(&self, direction: Direction, inputs: &[PathBuf], n: u32) -> Vec<String> {
        let mut argv = vec![
            self.fastpath.display().to_string(),
            "--direction".into(),
            direction.to_string(),
            "--bindings".into(),
            n.to_string(),
            "--devargs".into(),
            format!("net_pcap0,{}", Self::devargs(inputs)),
            "--mempool-size".into(),
            self.mbufs(n).to_string(),
            "--".into(),
        ];
        argv.extend(self.lcores());
        argv.extend(self.eal_args(&self.prefix("fp"), n));
        argv
    }

    fn scenario(&self, direction: Direction, n: u32, size: usize) -> Result<Row, String> {
        let load = procfs::load_average();
        let inputs = self.inputs(direction, n, size)?;
        let stem = format!("{direction}-{n}-{size}");
        let log = |what: &str| self.cli.work.join(format!("log/{stem}-{what}.log"));
        let startup = Duration::from_secs(self.limit_s(n));
        let warmup = Duration::from_secs_f64(self.cli.warmup);
        let window = Duration::from_secs_f64(self.cli.seconds);
        let mut checks = Vec::new();

        let mut floor = |mode: &str| -> Result<Window, String> {
            let program = self.testpmd(mode, &inputs, n, log(mode));
            let w = dpdk_run::measure(&program, startup, warmup, window)?;
            if let Some(problem) = check_testpmd(&program.log) {
                checks.push(format!("{mode}: {problem}"));
            }
            Ok(w)
        };
        let io = floor("io")?;
        let macswap = floor("macswap")?;

        let json = self.cli.work.join(format!("log/{stem}-counters.json"));
        let _ = std::fs::remove_file(&json);
        let program = self.gateway(direction, &inputs, n, log("gw"), &json)?;
        let gw = dpdk_run::measure(&program, startup, warmup, window)?;
        match check_gateway(&json, direction, n, gw.exit_ok) {
            Ok(()) => {}
            Err(problem) => checks.push(format!("gw: {problem}")),
        }
        if !self.cli.keep {
            for p in inputs.iter().chain([&json]) {
                let _ = std::fs::remove_file(p);
            }
        }
        let mib = |kib: u64| kib as f64 / 1024.0;
        Ok(Row {
            direction: direction.to_string(),
            bindings: n,
            inner_len: size,
            frame_len: traffic::frame_len(direction, size),
            workers: self.cli.workers,
            gw_mpps: gw.tx_pps / 1e6,
            io_mpps: io.tx_pps / 1e6,
            macswap_mpps: macswap.tx_pps / 1e6,
            gw_rss_mib: mib(gw.memory.rss_kib),
            gw_peak_mib: mib(gw.memory.peak_kib),
            gw_hugetlb_mib: mib(gw.memory.hugetlb_kib),
            gw_startup_s: gw.startup_s,
            check: if checks.is_empty() { "ok".into() } else { checks.join("; ") },
            mode: self.mode_name().into(),
            cpu_mhz: self.cpu_mhz,
            load,
            date: self.date.clone(),
        })
    }
}

/// testpmd's closing "Accumulated forward statistics": everything received was sent.
fn check_testpmd(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let Some(at) = text.rfind("Accumulated forward statistics") else {
        return Some("no final statistics".into());
    };
    let tail = &text[at..];
    let field = |name: &str| -> Option<u64> {
        let rest = &tail[tail.find(name)? + name.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    match (field("RX-packets:"), field("TX-packets:"), field("TX-dropped:")) {
        (Some(rx), Some(tx), Some(0)) if rx == tx && tx > 0 => None,
        other => Some(format!("rx/tx/tx-dropped {other:?}")),
    }
}

#[derive(Deserialize)]
struct CountersJson {
    exit: String,
    ports: Vec<DevicePort>,
    fastpath: FastpathJson,
}
#[derive(Deserialize)]
struct DevicePort {
    rx_packets: u64,
    tx_packets: u64,
}
#[derive(Deserialize)]
struct FastpathJson {
    total: Totals,
    #[serde(default)]
    bindings: Vec<BindingJson>,
}
#[derive(Deserialize)]
struct Totals {
    encapsulated: u64,
    decapsulated: u64,
    punted: u64,
    dropped: u64,
}
#[derive(Deserialize)]
struct BindingJson {
    uplink_packets: u64,
    downlink_packets: u64,
}

/// What the gateway counted: every packet received was encapsulated (or decapsulated, by direction) and sent,
/// none dropped or punted, and the per-binding counters add up to it, spread over all N bindings.
fn check_gateway(json: &Path, direction: Direction, n: u32, exit_ok: bool) -> Result<(), String> {
    let file = File::open(json).map_err(|e| format!("no counters ({e})"))?;
    let c: CountersJson =
        serde_json::from_reader(BufReader::with_capacity(1 << 20, file)).map_err(|e| format!("counters: {e}"))?;
    if !exit_ok || c.exit != "stopped" {
        return Err(format!("exit {:?}", c.exit));
    }
    let t = &c.fastpath.total;
    let (done, other) =
        if direction.encapsulates() { (t.encapsulated, t.decapsulated) } else { (t.decapsulated, t.encapsulated) };
    let rx: u64 = c.ports.iter().map(|p| p.rx_packets).sum();
    let tx: u64 = c.ports.iter().map(|p| p.tx_packets).sum();
    if t.dropped != 0 || t.punted != 0 || other != 0 || done != rx || done != tx || done == 0 {
        return Err(format!(
            "forwarded {done}, other {other}, dropped {}, punted {}, device rx {rx} tx {tx}",
            t.dropped, t.punted
        ));
    }
    let per_binding: Vec<u64> = c
        .fastpath
        .bindings
        .iter()
        .map(|b| if direction.way == Way::Uplink { b.uplink_packets } else { b.downlink_packets })
        .collect();
    let sum: u64 = per_binding.iter().sum();
    let hit = per_binding.iter().filter(|&&p| p > 0).count();
    if sum != done {
        return Err(format!("per-binding counters add up to {sum}, not {done}"));
    }
    if done >= u64::from(n) && hit != n as usize {
        return Err(format!("{hit} of {n} bindings carried traffic"));
    }
    Ok(())
}
