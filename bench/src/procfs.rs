//! Reading a process's memory and the machine's state from /proc.

/// Resident memory of a process, in KiB (`/proc/PID/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: resident now (hugetlbfs pages are not in it).
    pub rss_kib: u64,
    /// VmHWM: the peak of VmRSS.
    pub peak_kib: u64,
    /// HugetlbPages: hugepage memory mapped.
    pub hugetlb_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_status(&status))
}

/// This process's memory.
pub fn own_memory() -> Memory {
    std::fs::read_to_string("/proc/self/status").map(|s| parse_status(&s)).unwrap_or_default()
}

fn parse_status(status: &str) -> Memory {
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory { rss_kib: kib("VmRSS:"), peak_kib: kib("VmHWM:"), hugetlb_kib: kib("HugetlbPages:") }
}

/// The children of a process (e.g. the command `timeout` runs).
pub fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// The nominal clock of CPU 0 in Hz (`cpu MHz` of /proc/cpuinfo): the unit of the cycles-per-packet figures.
pub fn cpu_hz() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0.0, |mhz| mhz * 1e6)
}

/// The CPU model (`model name`).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `MemAvailable` in KiB.
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .map(|s| parse_status(&s.replace("MemAvailable:", "VmRSS:")).rss_kib)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_status() {
        let m = own_memory();
        assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib);
        assert!(cpu_hz() >= 0.0, "0 where /proc/cpuinfo has no clock");
    }
}
