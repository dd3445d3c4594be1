//! Helpers for the tests that run a Python driver over the real gateways in network namespaces (the end-to-end
//! run and the soak): what they need from the machine, running the driver with a hard limit, and checking that
//! it left nothing behind.
#![allow(dead_code)] // each test binary uses its own subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Root, `ip netns`, python3, tshark, dumpcap, ethtool and ping.
pub fn preconditions() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().map_err(|e| format!("running id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not running as root".into());
    }
    for tool in ["ip", "python3", "tshark", "dumpcap", "ethtool", "ping"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!("{tool} is not installed"));
        }
    }
    let probe = format!("pmipgw-probe-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &probe]).output().map_err(|e| e.to_string())?;
    let _ = Command::new("ip").args(["netns", "del", &probe]).output();
    if !added.status.success() {
        return Err(format!("ip netns add fails: {}", String::from_utf8_lossy(&added.stderr).trim()));
    }
    Ok(())
}

/// The directory of the `pmipgw` and `pmipctl` binaries cargo built for the root package's tests (`None` in
/// another package's tests, which find them next to their own binary).
pub fn gateway_binaries() -> Option<PathBuf> {
    let dir = Path::new(option_env!("CARGO_BIN_EXE_pmipgw")?).parent()?.to_owned();
    assert_eq!(
        option_env!("CARGO_BIN_EXE_pmipctl").map(|p| Path::new(p).parent()),
        Some(Some(dir.as_path())),
        "pmipgw and pmipctl are built into one directory"
    );
    Some(dir)
}

/// One run of a driver script and what it left: its exit status, its output, and the JSON summary it wrote.
pub struct DriverRun {
    pub run_id: String,
    pub status: ExitStatus,
    pub output: String,
    pub summary: Option<serde_json::Value>,
}

impl DriverRun {
    /// Runs `python3 deploy/e2e/<script> <args> --run-id <run_id> --summary <dir>/summary.json` (the drivers tear
    /// their topology down before they exit). Past `limit` it gets SIGTERM, a minute later SIGKILL.
    pub fn start(script: &str, args: &[&OsStr], run_id: &str, dir: &Path, limit: Duration) -> DriverRun {
        // The workspace: the root package's directory, or the one above another package's.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|d| d.join("deploy/e2e").is_dir())
            .expect("the workspace holds deploy/e2e");
        let script = root.join("deploy/e2e").join(script);
        let summary_path = dir.join("summary.json");
        let log = dir.join("driver.log");
        let file = std::fs::File::create(&log).expect("driver log");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(args)
            .args([OsStr::new("--run-id"), OsStr::new(run_id), OsStr::new("--summary"), summary_path.as_os_str()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 {}: {e}", script.display()));
        let started = Instant::now();
        let mut stopped = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the driver") {
                break status;
            }
            if started.elapsed() > limit && !stopped {
                let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
                stopped = true;
            }
            if started.elapsed() > limit + Duration::from_secs(60) {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut output = std::fs::read_to_string(&log).unwrap_or_default();
        if stopped {
            output.push_str(&format!("\n(test: the driver ran longer than {limit:?} and was stopped)\n"));
        }
        let summary = std::fs::read_to_string(&summary_path).ok().and_then(|t| serde_json::from_str(&t).ok());
        DriverRun { run_id: run_id.to_owned(), status, output, summary }
    }

    /// Fails the test with every problem found: `check`'s on the summary, and the driver's own verdict, exit
    /// status and leftovers.
    pub fn assert_clean(&self, what: &str, check: impl FnOnce(&serde_json::Value) -> Vec<String>) {
        let mut problems = Vec::new();
        if !self.status.success() {
            problems.push(format!("the driver exited with {}", self.status));
        }
        match &self.summary {
            None => problems.push("the driver wrote no summary".into()),
            Some(summary) => {
                if summary["passed"] != true {
                    problems.push(format!(
                        "the driver reports a failure at {}: {}",
                        summary["failed_step"], summary["error"]
                    ));
                }
                problems.extend(check(summary));
            }
        }
        problems.extend(leftovers(&self.run_id));
        assert!(
            problems.is_empty(),
            "{what}: {} problem(s):\n  - {}\n\n===== driver output =====\n{}",
            problems.len(),
            problems.join("\n  - "),
            self.output
        );
    }
}

/// Namespaces, processes, temporary directories and DPDK runtime files of run `run_id` still present.
pub fn leftovers(run_id: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let namespaces = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    let left: Vec<String> = String::from_utf8_lossy(&namespaces)
        .lines()
        .filter(|l| l.starts_with(&format!("{run_id}-")))
        .map(str::to_owned)
        .collect();
    if !left.is_empty() {
        problems.push(format!("namespaces left behind: {left:?}"));
    }
    let marker = format!("pmipgw-e2e-{run_id}-");
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&marker) || cmdline.contains(&format!("{run_id}-")) {
            problems.push(format!("process left behind: {} {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    for dir in [std::env::temp_dir(), PathBuf::from("/var/run/dpdk")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&marker) {
                problems.push(format!("left behind: {}", entry.path().display()));
            }
        }
    }
    problems
}
