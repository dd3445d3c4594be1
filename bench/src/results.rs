//! One row per throughput scenario: CSV out and back in, and the Markdown table of the README.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// What one scenario measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// `lma-up-v6` etc. (see [`crate::traffic::Direction`]).
    pub direction: String,
    pub bindings: u32,
    /// Inner IP packet length.
    pub inner_len: usize,
    /// Received frame length (without FCS).
    pub frame_len: usize,
    pub workers: u32,
    /// Forwarded packets per second, in millions: the gateway, testpmd io and macswap on the same input.
    pub gw_mpps: f64,
    pub io_mpps: f64,
    pub macswap_mpps: f64,
    /// Gateway resident memory while forwarding (VmRSS, MiB), its peak, and hugepage memory mapped.
    pub gw_rss_mib: f64,
    pub gw_peak_mib: f64,
    pub gw_hugetlb_mib: f64,
    /// Seconds from start to first forwarded packet (config parse, table fill, pcap load).
    pub gw_startup_s: f64,
    /// "ok", or what the counter check found.
    pub check: String,
    /// `hugepages` or `no-huge`.
    pub mode: String,
    /// Nominal CPU clock, for cycles per packet.
    pub cpu_mhz: f64,
    /// Load average at the start of the scenario.
    pub load: String,
    pub date: String,
}

impl Row {
    pub fn ratio_macswap(&self) -> f64 {
        ratio(self.gw_mpps, self.macswap_mpps)
    }
    pub fn ratio_io(&self) -> f64 {
        ratio(self.gw_mpps, self.io_mpps)
    }
    /// CPU cycles per packet per worker core (the worker spins: its core is all cycles).
    pub fn cycles(&self, mpps: f64) -> f64 {
        if mpps <= 0.0 {
            return 0.0;
        }
        self.cpu_mhz * f64::from(self.workers) / mpps
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

pub const CSV_HEADER: &str = "direction,bindings,inner_len,frame_len,workers,gw_mpps,io_mpps,macswap_mpps,\
ratio_macswap,ratio_io,gw_cycles_per_pkt,io_cycles_per_pkt,macswap_cycles_per_pkt,gw_rss_mib,gw_peak_mib,\
gw_hugetlb_mib,gw_startup_s,check,mode,cpu_mhz,load,date";

pub fn csv_line(r: &Row) -> String {
    format!(
        "{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.0},{:.0},{:.0},{:.1},{:.1},{:.1},{:.1},{},{},{:.0},{},{}",
        r.direction,
        r.bindings,
        r.inner_len,
        r.frame_len,
        r.workers,
        r.gw_mpps,
        r.io_mpps,
        r.macswap_mpps,
        r.ratio_macswap(),
        r.ratio_io(),
        r.cycles(r.gw_mpps),
        r.cycles(r.io_mpps),
        r.cycles(r.macswap_mpps),
        r.gw_rss_mib,
        r.gw_peak_mib,
        r.gw_hugetlb_mib,
        r.gw_startup_s,
        r.check.replace(',', ";"),
        r.mode,
        r.cpu_mhz,
        r.load.replace(',', " "),
        r.date
    )
}

pub fn read_csv(path: &Path) -> io::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != CSV_HEADER.split(',').count() {
            return Err(io::Error::other(format!("{}: bad line {line:?}", path.display())));
        }
        let num = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
        rows.push(Row {
            direction: f[0].into(),
            bindings: f[1].parse().unwrap_or(0),
            inner_len: f[2].parse().unwrap_or(0),
            frame_len: f[3].parse().unwrap_or(0),
            workers: f[4].parse().unwrap_or(1),
            gw_mpps: num(5),
            io_mpps: num(6),
            macswap_mpps: num(7),
            gw_rss_mib: num(13),
            gw_peak_mib: num(14),
            gw_hugetlb_mib: num(15),
            gw_startup_s: num(16),
            check: f[17].into(),
            mode: f[18].into(),
            cpu_mhz: num(19),
            load: f[20].into(),
            date: f[21].into(),
        });
    }
    Ok(rows)
}

/// Human-readable bindings count: 1k, 100k, 1M.
pub fn short_count(n: u32) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The README's table.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| scenario | bindings | inner B | workers | Mpps | × macswap | × io | macswap Mpps | io Mpps | cycles/pkt \
         (gw / io / macswap) | gw RSS MiB | check | mode | date |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} / {:.0} / {:.0} | {:.0} | {} | {} | {} |",
            r.direction,
            short_count(r.bindings),
            r.inner_len,
            r.workers,
            r.gw_mpps,
            r.ratio_macswap(),
            r.ratio_io(),
            r.macswap_mpps,
            r.io_mpps,
            r.cycles(r.gw_mpps),
            r.cycles(r.io_mpps),
            r.cycles(r.macswap_mpps),
            r.gw_rss_mib,
            r.check,
            r.mode,
            r.date
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips() {
        let row = Row {
            direction: "lma-up-v6".into(),
            bindings: 1000,
            inner_len: 64,
            frame_len: 126,
            workers: 1,
            gw_mpps: 8.5,
            io_mpps: 20.0,
            macswap_mpps: 17.0,
            gw_rss_mib: 40.0,
            gw_peak_mib: 41.0,
            gw_hugetlb_mib: 512.0,
            gw_startup_s: 1.5,
            check: "ok".into(),
            mode: "hugepages".into(),
            cpu_mhz: 2445.0,
            load: "1.00 0.50 0.20".into(),
            date: "2026-11-26".into(),
        };
        let dir = std::env::temp_dir().join(format!("pmipgw-bench-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        std::fs::write(&path, format!("{CSV_HEADER}\n{}\n", csv_line(&row))).unwrap();
        let back = read_csv(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back, vec![row.clone()]);
        assert!((row.ratio_macswap() - 0.5).abs() < 1e-9);
        assert!((row.cycles(row.gw_mpps) - 2445.0 / 8.5).abs() < 1e-9);
        assert!(markdown(&back).contains("| lma-up-v6 | 1k | 64 | 1 | 8.50 | 0.50 |"));
    }
}
