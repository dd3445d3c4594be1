//! Running a DPDK program (pmipgw, testpmd, the fastpath driver) for a measured window: start it under
//! `timeout`, wait until its port forwards, read the port counters through telemetry over a fixed window,
//! sample its memory, and stop it with SIGINT so it prints its final counters.

use crate::procfs::{self, Memory};
use crate::telemetry::{self, PortSample, Telemetry};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A DPDK program and how to bound it.
pub struct Program {
    /// argv, program first.
    pub argv: Vec<String>,
    /// The EAL `--file-prefix` it runs with (locates its telemetry socket).
    pub file_prefix: String,
    /// stdout and stderr go here.
    pub log: PathBuf,
    /// Hard limit for the whole run (`timeout`), seconds.
    pub limit_s: u64,
}

/// What one measured window saw.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Packets transmitted per second over the window.
    pub tx_pps: f64,
    pub start: PortSample,
    pub end: PortSample,
    /// Seconds from spawn to the first forwarded packet.
    pub startup_s: f64,
    pub memory: Memory,
    /// The program's exit status after SIGINT.
    pub exit_ok: bool,
}

struct Running {
    timeout: Child,
    /// Held open so that testpmd, which waits for Enter, keeps running until signalled.
    _stdin: Option<ChildStdin>,
    pid: u32,
}

/// Runs `program`: waits up to `startup_limit` for forwarding to start, lets it warm up, measures `window`
/// seconds, then stops it.
pub fn measure(
    program: &Program,
    startup_limit: Duration,
    warmup: Duration,
    window: Duration,
) -> Result<Window, String> {
    // A stale socket from an earlier run of the same prefix would answer nothing; EAL recreates the directory, and
    // it is removed again once the program has exited.
    let runtime_dir = Path::new("/var/run/dpdk").join(&program.file_prefix);
    let _ = std::fs::remove_dir_all(&runtime_dir);
    let started = Instant::now();
    let mut running = spawn(program)?;
    let result = observe(program, &mut running, started, startup_limit, warmup, window);
    let exit_ok = stop(&mut running);
    let _ = std::fs::remove_dir_all(&runtime_dir);
    let mut window = result?;
    window.exit_ok = exit_ok;
    Ok(window)
}

fn spawn(program: &Program) -> Result<Running, String> {
    let log = File::create(&program.log).map_err(|e| format!("{}: {e}", program.log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut timeout = Command::new("timeout")
        .args(["-s", "INT", "-k", "30", &program.limit_s.to_string()])
        .args(&program.argv)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", program.argv[0]))?;
    let stdin = timeout.stdin.take();
    // The program itself is timeout's only child.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid = loop {
        if let Some(&pid) = procfs::children(timeout.id()).first() {
            break pid;
        }
        if Instant::now() > deadline || matches!(timeout.try_wait(), Ok(Some(_))) {
            return Err(format!("{} did not start: {}", program.argv[0], log_tail(&program.log)));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Running { timeout, _stdin: stdin, pid })
}

fn observe(
    program: &Program,
    running: &mut Running,
    started: Instant,
    startup_limit: Duration,
    warmup: Duration,
    window: Duration,
) -> Result<Window, String> {
    let socket = telemetry::socket_path(&program.file_prefix);
    let mut telemetry = None;
    loop {
        if let Ok(Some(status)) = running.timeout.try_wait() {
            return Err(format!("{} exited early ({status}): {}", program.argv[0], log_tail(&program.log)));
        }
        if started.elapsed() > startup_limit {
            return Err(format!("{} did not forward within {startup_limit:?}", program.argv[0]));
        }
        if telemetry.is_none() && socket.exists() {
            telemetry = Telemetry::connect(&socket).ok();
        }
        // Until the port is configured, telemetry answers null.
        if let Some(Ok(sample)) = telemetry.as_mut().map(|t| t.port_stats(0)) {
            if sample.opackets > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let startup_s = started.elapsed().as_secs_f64();
    let t = telemetry.as_mut().ok_or("no telemetry")?;
    std::thread::sleep(warmup);
    let start = t.port_stats(0).map_err(|e| e.to_string())?;
    std::thread::sleep(window);
    let end = t.port_stats(0).map_err(|e| e.to_string())?;
    let memory = procfs::memory(running.pid).unwrap_or_default();
    Ok(Window { tx_pps: telemetry::tx_rate(&start, &end), start, end, startup_s, memory, exit_ok: false })
}

/// SIGINT, then up to three minutes to write its final counters (a 1M-binding pmipgw writes 250 MB of JSON);
/// SIGKILL after that. Returns whether it exited successfully.
fn stop(running: &mut Running) -> bool {
    // The program may already have exited (a failed start): kill's complaint is not news.
    let _ = Command::new("kill").args(["-INT", &running.pid.to_string()]).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match running.timeout.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => break,
        }
    }
    let _ = Command::new("kill").args(["-KILL", &running.pid.to_string()]).stderr(Stdio::null()).status();
    let _ = running.timeout.kill();
    let _ = running.timeout.wait();
    false
}

/// The last lines of a log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
