//! Human-readable rendering of replies: aligned tables for lists, `key: value` blocks for one binding.

use super::types::{
    BindingView, DataplaneStats, NeighbourView, PeerView, ReservationView, Response, StateView, Stats, SteeringView,
    WorkerView,
};
use std::fmt::Write;

/// A plain text table: a header row and left-aligned columns separated by two spaces.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table { rows: vec![header.iter().map(|h| (*h).to_string()).collect()] }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn key(k: Option<u32>) -> String {
    k.map_or_else(|| "-".to_string(), |k| format!("{k:#010x}"))
}

/// Renders a reply for a terminal. Errors come out as `error: ...`.
pub fn render(response: &Response) -> String {
    match response {
        Response::Bindings { bindings } if bindings.is_empty() => "no bindings\n".into(),
        Response::Bindings { bindings } if bindings.len() == 1 => binding_detail(&bindings[0]),
        Response::Bindings { bindings } => binding_table(bindings),
        Response::Pdn { binding } => binding_detail(binding),
        Response::Stats(stats) => stats_text(stats),
        Response::Peers { peers, restart_counter } => peers_text(peers, *restart_counter),
        Response::Keys { reservations } => keys_text(reservations),
        Response::Neighbours { neighbours } => neighbours_text(neighbours),
        Response::Workers { workers, steering } => workers_text(workers, steering),
        Response::State(state) => state_text(state),
        Response::Done { message } => format!("{message}\n"),
        Response::Error { error } => format!("error: {error}\n"),
    }
}

fn binding_table(bindings: &[BindingView]) -> String {
    let mut t = Table::new(&[
        "ID",
        "STATE",
        "MN-ID",
        "APN",
        "PEER",
        "UPLINK-KEY",
        "DOWNLINK-KEY",
        "HOME-PREFIX",
        "IPV4",
        "EXPIRES",
    ]);
    for b in bindings {
        t.row(vec![
            b.id.to_string(),
            b.state.clone(),
            b.mn_id.clone(),
            match b.pdn_connection_id {
                Some(p) => format!("{}#{p}", b.apn),
                None => b.apn.clone(),
            },
            b.peer.to_string(),
            key(b.uplink_key),
            key(b.downlink_key),
            opt(b.home_prefix.as_ref()),
            opt(b.ipv4_home_address),
            b.expires_in_s.map_or_else(|| "-".into(), |s| format!("{s}s")),
        ]);
    }
    t.render()
}

fn binding_detail(b: &BindingView) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{:<20}{v}", format!("{k}:"));
    };
    line("binding", format!("{} ({:?})", b.id, b.function).to_lowercase());
    line("state", b.state.clone());
    line("mn-id", b.mn_id.clone());
    line("apn", b.apn.clone());
    line("pdn-connection-id", opt(b.pdn_connection_id));
    line("peer", b.peer.to_string());
    line("local", opt(b.local));
    line("signalling", b.framing.clone());
    line("uplink-key", key(b.uplink_key));
    line("downlink-key", key(b.downlink_key));
    line("home-prefix", opt(b.home_prefix.as_ref()));
    line("ipv4-home-address", opt(b.ipv4_home_address));
    line("access-technology", b.att.to_string());
    line("lifetime", format!("{}s", b.lifetime_s));
    line("expires-in", b.expires_in_s.map_or_else(|| "-".into(), |s| format!("{s}s")));
    if let Some(c) = &b.counters {
        line("uplink", format!("{} packets, {} bytes", c.uplink_packets, c.uplink_bytes));
        line("downlink", format!("{} packets, {} bytes", c.downlink_packets, c.downlink_bytes));
    }
    out
}

fn stats_text(s: &Stats) -> String {
    let mut out = format!("role: {:?}\nbindings: {}\ngre keys in use: {}\n", s.function, s.bindings, s.keys_in_use)
        .to_lowercase();
    out.push_str("\nsignalling:\n");
    let mut t = Table::new(&["DIR", "MESSAGE", "STATUS", "COUNT"]);
    for m in &s.signalling {
        t.row(vec![m.direction.clone(), m.message.clone(), opt(m.status.as_ref()), m.count.to_string()]);
    }
    out.push_str(&t.render());
    if !s.events.is_empty() {
        out.push_str("\nevents:\n");
        let mut t = Table::new(&["EVENT", "COUNT"]);
        for (k, v) in &s.events {
            t.row(vec![k.clone(), v.to_string()]);
        }
        out.push_str(&t.render());
    }
    if !s.state.is_empty() {
        out.push_str("\nstate:\n");
        let mut t = Table::new(&["ITEM", "NOW"]);
        for (k, v) in &s.state {
            t.row(vec![k.clone(), v.to_string()]);
        }
        out.push_str(&t.render());
    }
    if let Some(h) = s.signalling_latency.as_ref().filter(|h| h.count() != 0) {
        let bound = |q| match h.quantile_bound_us(q) {
            Some(us) => format!("≤ {us} µs"),
            None => format!("> {} µs", h.bounds_us.last().copied().unwrap_or(0)),
        };
        out.push_str(&format!(
            "\nsignalling latency: {} exchanges, mean {} µs, median {}, p99 {}\n",
            h.count(),
            h.sum_us / h.count(),
            bound(0.5),
            bound(0.99)
        ));
    }
    match &s.dataplane {
        Some(d) => out.push_str(&dataplane_text(d)),
        None => out.push_str("\ndata plane: no counters (not attached)\n"),
    }
    out
}

fn dataplane_text(d: &DataplaneStats) -> String {
    let mut out = String::from("\nports:\n");
    let mut t = Table::new(&["PORT", "RX-PACKETS", "RX-BYTES", "TX-PACKETS", "TX-BYTES", "DROPS"]);
    for p in &d.ports {
        let cells = [p.rx_packets, p.rx_bytes, p.tx_packets, p.tx_bytes, p.drops].map(|v| v.to_string());
        t.row(std::iter::once(p.name.clone()).chain(cells).collect());
    }
    out.push_str(&t.render());
    out.push_str("\nworkers:\n");
    let mut t = Table::new(&["WORKER", "LCORE", "PACKETS", "DROPS"]);
    for w in &d.workers {
        t.row(vec![w.id.to_string(), opt(w.lcore), w.packets.to_string(), w.drops.to_string()]);
    }
    out.push_str(&t.render());
    let f = &d.totals;
    out.push_str(&format!(
        "\nfast path: {} received: {} encapsulated, {} decapsulated, {} punted, {} dropped ({} answered with \
         an ICMP error); removed bindings carried {} uplink and {} downlink packets\n",
        f.rx_packets,
        f.encapsulated,
        f.decapsulated,
        f.punted,
        f.dropped,
        f.icmp_errors_sent,
        f.retired.uplink_packets,
        f.retired.downlink_packets
    ));
    if f.fragmented + f.reassembled + f.reassembly_held != 0 {
        out.push_str(&format!(
            "fragmented {} packets into {} fragments; rebuilt {} packets from {} outer fragments, {} waiting\n",
            f.fragmented, f.fragments, f.reassembled, f.fragments_reassembled, f.reassembly_held
        ));
    }
    out.push_str("\ndrops by reason:\n");
    let mut t = Table::new(&["REASON", "COUNT"]);
    for (k, v) in &d.drops {
        t.row(vec![k.clone(), v.to_string()]);
    }
    out.push_str(&t.render());
    out
}

fn peers_text(peers: &[PeerView], restart_counter: u32) -> String {
    let mut out = format!("own restart counter: {restart_counter}\n");
    if peers.is_empty() {
        out.push_str("no peers\n");
        return out;
    }
    let mut t = Table::new(&[
        "PEER",
        "SIGNALLING",
        "STATE",
        "BINDINGS",
        "MISSING",
        "RESTART-COUNTER",
        "SENT",
        "ANSWERED",
        "ADMITTED",
        "RATE-LIMITED",
    ]);
    for p in peers {
        t.row(vec![
            p.address.to_string(),
            p.framing.clone(),
            p.state.clone(),
            p.bindings.to_string(),
            p.missing.to_string(),
            opt(p.restart_counter),
            p.requests_sent.to_string(),
            p.responses_received.to_string(),
            p.signalling_admitted.to_string(),
            p.signalling_rate_limited.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out
}

fn workers_text(workers: &[WorkerView], steering: &[SteeringView]) -> String {
    let mut t = Table::new(&["WORKER", "RX", "TX", "ENCAP", "DECAP", "PUNTED", "DROPPED", "KEYS", "BUSY"]);
    for w in workers {
        t.row(vec![
            w.worker.to_string(),
            w.rx_packets.to_string(),
            w.tx_packets.to_string(),
            w.encapsulated.to_string(),
            w.decapsulated.to_string(),
            w.punted.to_string(),
            w.dropped.to_string(),
            w.keys_owned.to_string(),
            format!("{}%", w.busy_percent),
        ]);
    }
    let mut out = t.render();
    for s in steering {
        let _ = writeln!(out, "port {}: steering {}", s.port, s.steering);
    }
    out
}

fn neighbours_text(neighbours: &[NeighbourView]) -> String {
    if neighbours.is_empty() {
        return "no neighbours\n".into();
    }
    let mut t = Table::new(&["PORT", "ADDRESS", "MAC", "STATE", "BINDINGS"]);
    for n in neighbours {
        t.row(vec![
            n.port.clone(),
            n.address.to_string(),
            n.mac.clone().unwrap_or_else(|| "-".into()),
            n.state.clone(),
            n.bindings.to_string(),
        ]);
    }
    t.render()
}

fn state_text(s: &StateView) -> String {
    if !s.durable {
        return format!(
            "durable state: off (bindings are lost at a restart)\nrestart counter: {}\n",
            s.restart_counter
        );
    }
    let j = &s.journal;
    let mut text = format!(
        "durable state: {}\nsize: {} bytes, {} live records at the last compaction\nrestored at start: {} bindings ({} expired while \
         down, {} refused by the configuration)\ncommits: {} ({:.1}/s), {} records; last commit {} us; {} \
         compactions\nmessages waiting for a commit: {}\nrestart counter: {}\n",
        j.path,
        j.file_bytes,
        j.live_records,
        s.restored.restored,
        s.restored.expired,
        s.restored.refused,
        j.commits,
        j.commits as f64 * 1000.0 / s.uptime_ms.max(1) as f64,
        j.records_written,
        j.last_commit_us,
        j.compactions,
        s.messages_held,
        s.restart_counter
    );
    if let Some(failed) = &j.failed {
        text.push_str(&format!("FAILED: {failed} (nothing is acknowledged until the gateway restarts)\n"));
    }
    text
}

fn keys_text(reservations: &[ReservationView]) -> String {
    if reservations.is_empty() {
        return "no key reservations\n".into();
    }
    let mut t = Table::new(&["KEY", "MN-ID", "APN", "PDN-CONNECTION-ID", "IN-USE"]);
    for r in reservations {
        t.row(vec![
            key(Some(r.key)),
            r.mn_id.clone(),
            r.apn.clone(),
            opt(r.pdn_connection_id),
            if r.bound { "yes" } else { "no" }.into(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{LatencyHistogram, MessageCount, TrafficCounters};
    use crate::fastpath::Function;

    fn view(id: u32) -> BindingView {
        BindingView {
            id,
            function: Function::Lma,
            state: "active".into(),
            mn_id: "001@nai".into(),
            apn: "internet".into(),
            pdn_connection_id: None,
            peer: "2001:db8:1::1".parse().unwrap(),
            local: Some("2001:db8:2::1".parse().unwrap()),
            framing: "ipv6".into(),
            uplink_key: Some(0x0a0b_0c0d),
            downlink_key: Some(1),
            home_prefix: Some("2001:db8:100::/64".into()),
            ipv4_home_address: None,
            att: 8,
            lifetime_s: 3600,
            expires_in_s: Some(3599),
            counters: Some(TrafficCounters { uplink_packets: 3, uplink_bytes: 300, ..Default::default() }),
        }
    }

    #[test]
    fn a_list_is_an_aligned_table_and_one_binding_a_detail_block() {
        let table = render(&Response::Bindings { bindings: vec![view(1), view(12)] });
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID  STATE   MN-ID"), "{table}");
        assert_eq!(lines[0].find("UPLINK-KEY"), lines[1].find("0x0a0b0c0d"), "columns align:\n{table}");
        let one = render(&Response::Bindings { bindings: vec![view(1)] });
        assert!(one.contains("uplink-key:         0x0a0b0c0d\n"), "{one}");
        assert!(one.contains("uplink:             3 packets, 300 bytes"), "{one}");
        assert_eq!(render(&Response::Bindings { bindings: vec![] }), "no bindings\n");
    }

    #[test]
    fn stats_errors_and_messages() {
        let s = Stats {
            function: Function::Mag,
            bindings: 2,
            keys_in_use: 2,
            signalling: vec![MessageCount {
                direction: "rx".into(),
                message: "pba".into(),
                status: Some("ACCEPTED".into()),
                count: 4,
            }],
            events: [("pbu-retransmissions".to_string(), 1)].into(),
            dataplane: None,
            state: [("mag.pdn_connections".to_string(), 2)].into(),
            signalling_latency: Some(LatencyHistogram {
                bounds_us: vec![100, 1_000],
                counts: vec![1, 2, 1],
                sum_us: 10_000,
            }),
        };
        let text = render(&Response::Stats(s));
        assert!(text.contains("role: mag"), "{text}");
        assert!(text.contains("rx   pba      ACCEPTED  4"), "{text}");
        assert!(text.contains("pbu-retransmissions  1"), "{text}");
        assert!(text.contains("mag.pdn_connections  2"), "{text}");
        assert!(
            text.contains("signalling latency: 4 exchanges, mean 2500 µs, median ≤ 1000 µs, p99 > 1000 µs"),
            "{text}"
        );
        assert_eq!(render(&Response::error("no such binding")), "error: no such binding\n");
        assert_eq!(render(&Response::done("ok")), "ok\n");
    }
}
