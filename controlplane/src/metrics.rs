//! Prometheus text exposition (format 0.0.4) of the gateway's counters, and a minimal HTTP/1.1 responder for
//! `GET /metrics` on its own thread — no web framework: one request per connection, read and write timeouts so a
//! slow client cannot hold the endpoint.

use crate::api::{ApiHandler, LatencyHistogram, PeerView, PortStats, Request, Response, Stats};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Builds the exposition text metric family by metric family.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.text, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// Reads one counter of a port.
type PortCounter = fn(&PortStats) -> u64;

/// The exposition of a gateway's counters and peers.
pub fn render(stats: &Stats, peers: &[PeerView]) -> String {
    let mut e = Exposition::default();
    let role = format!("{:?}", stats.function).to_lowercase();
    e.family("pmipgw_bindings", "gauge", "Bindings held (BCEs on an LMA, BULEs on a MAG).");
    e.sample("pmipgw_bindings", &[("role", &role)], stats.bindings);
    e.family("pmipgw_gre_keys_in_use", "gauge", "GRE keys allocated or reserved.");
    e.sample("pmipgw_gre_keys_in_use", &[("role", &role)], stats.keys_in_use);
    e.family("pmipgw_signalling_messages_total", "counter", "Mobility Header messages by direction, type and status.");
    for m in &stats.signalling {
        let status = m.status.as_deref().unwrap_or("");
        let labels = [("direction", m.direction.as_str()), ("message", m.message.as_str()), ("status", status)];
        e.sample("pmipgw_signalling_messages_total", &labels, m.count);
    }
    e.family("pmipgw_control_events_total", "counter", "Control-plane events (retransmissions, expiries, ...).");
    for (name, count) in &stats.events {
        e.sample("pmipgw_control_events_total", &[("event", name)], *count);
    }
    e.family("pmipgw_state", "gauge", "What the gateway holds now (bindings, keys, addresses, timers, tables, mbufs).");
    for (name, value) in &stats.state {
        e.sample("pmipgw_state", &[("item", name)], *value);
    }
    e.family("pmipgw_peer_up", "gauge", "1 if the peer answers heartbeats (RFC 5847), else 0.");
    for p in peers {
        let addr = p.address.to_string();
        e.sample("pmipgw_peer_up", &[("peer", &addr)], u64::from(p.state == "up" || p.state == "idle"));
    }
    e.family("pmipgw_peer_bindings", "gauge", "Bindings with each peer.");
    for p in peers {
        e.sample("pmipgw_peer_bindings", &[("peer", &p.address.to_string())], p.bindings);
    }
    e.family("pmipgw_peer_missing_heartbeats", "gauge", "Consecutive unanswered heartbeat requests.");
    for p in peers {
        e.sample("pmipgw_peer_missing_heartbeats", &[("peer", &p.address.to_string())], u64::from(p.missing));
    }
    e.family(
        "pmipgw_peer_signalling_admitted_total",
        "counter",
        "Signalling from each peer passed to the control thread.",
    );
    for p in peers {
        e.sample("pmipgw_peer_signalling_admitted_total", &[("peer", &p.address.to_string())], p.signalling_admitted);
    }
    e.family(
        "pmipgw_peer_signalling_rate_limited_total",
        "counter",
        "Signalling from each peer dropped beyond its share (gateway.signalling_rate_per_peer).",
    );
    for p in peers {
        let peer = p.address.to_string();
        e.sample("pmipgw_peer_signalling_rate_limited_total", &[("peer", &peer)], p.signalling_rate_limited);
    }
    e.family("pmipgw_peer_restart_counter", "gauge", "Last Restart Counter each peer reported.");
    for p in peers {
        if let Some(rc) = p.restart_counter {
            e.sample("pmipgw_peer_restart_counter", &[("peer", &p.address.to_string())], u64::from(rc));
        }
    }
    if let Some(d) = &stats.dataplane {
        let port_counters: [(&str, &str, PortCounter); 5] = [
            ("pmipgw_port_rx_packets_total", "Packets received per port.", |p| p.rx_packets),
            ("pmipgw_port_tx_packets_total", "Packets sent per port.", |p| p.tx_packets),
            ("pmipgw_port_rx_bytes_total", "Bytes received per port.", |p| p.rx_bytes),
            ("pmipgw_port_tx_bytes_total", "Bytes sent per port.", |p| p.tx_bytes),
            ("pmipgw_port_drops_total", "Packets dropped per port.", |p| p.drops),
        ];
        for (name, help, get) in port_counters {
            e.family(name, "counter", help);
            for p in &d.ports {
                e.sample(name, &[("port", &p.name)], get(p));
            }
        }
        e.family("pmipgw_worker_packets_total", "counter", "Packets processed per worker.");
        for w in &d.workers {
            e.sample("pmipgw_worker_packets_total", &[("worker", &w.id.to_string())], w.packets);
        }
        e.family(
            "pmipgw_worker_busy_seconds_total",
            "counter",
            "Time each worker spent on poll rounds that moved packets: its rate is the worker's load (0 to 1).",
        );
        for w in &d.workers {
            e.sample("pmipgw_worker_busy_seconds_total", &[("worker", &w.id.to_string())], seconds(w.busy_ns, 1e9));
        }
        e.family("pmipgw_drops_total", "counter", "Packets dropped by the fast path, by reason.");
        for (reason, count) in &d.drops {
            e.sample("pmipgw_drops_total", &[("reason", reason)], *count);
        }
    }
    if let Some(h) = &stats.signalling_latency {
        histogram(&mut e, "pmipgw_signalling_latency_seconds", &role, h);
    }
    e.text
}

/// `value` in `per_second` units a second, as seconds.
fn seconds(value: u64, per_second: f64) -> f64 {
    value as f64 / per_second
}

/// A latency histogram with cumulative buckets, `_sum` and `_count`.
fn histogram(e: &mut Exposition, name: &str, role: &str, h: &LatencyHistogram) {
    e.family(
        name,
        "histogram",
        "Binding exchanges: on an LMA a PBU's arrival to its PBA leaving (tunnel installed on every worker), on a \
         MAG a PBU's first transmission to its PBA.",
    );
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (bound, count) in h.bounds_us.iter().zip(&h.counts) {
        cumulative += count;
        e.sample(&bucket, &[("role", role), ("le", &seconds(*bound, 1e6).to_string())], cumulative);
    }
    e.sample(&bucket, &[("role", role), ("le", "+Inf")], h.count());
    e.sample(&format!("{name}_sum"), &[("role", role)], seconds(h.sum_us, 1e6));
    e.sample(&format!("{name}_count"), &[("role", role)], h.count());
}

/// The exposition built from a gateway's API (its `stats` and `peers` answers).
pub fn render_from(handler: &dyn ApiHandler) -> Result<String, String> {
    let stats = match handler.handle(Request::Stats) {
        Response::Stats(s) => s,
        other => return Err(format!("stats: {other:?}")),
    };
    let peers = match handler.handle(Request::Peers) {
        Response::Peers { peers, .. } => peers,
        other => return Err(format!("peers: {other:?}")),
    };
    Ok(render(&stats, &peers))
}

/// A running `/metrics` endpoint; dropping it stops the thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `GET /metrics` on `addr`; each scrape calls `source` for the text (an error becomes a 500).
pub fn spawn(
    addr: SocketAddr,
    source: impl Fn() -> Result<String, String> + Send + 'static,
) -> io::Result<MetricsServer> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        thread::Builder::new().name("pmipgw-metrics".into()).spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = conn {
                    let _ = respond(stream, &source);
                }
            }
        })?
    };
    Ok(MetricsServer { addr, stop, thread: Some(thread) })
}

fn respond(mut stream: TcpStream, source: &impl Fn() -> Result<String, String>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body, content_type) = match (method, path) {
        ("GET", "/metrics") => match source() {
            Ok(text) => ("200 OK", text, CONTENT_TYPE),
            Err(e) => ("500 Internal Server Error", format!("metrics unavailable: {e}\n"), "text/plain"),
        },
        ("GET", _) => ("404 Not Found", "only /metrics is served here\n".into(), "text/plain"),
        _ => ("405 Method Not Allowed", "only GET is served here\n".into(), "text/plain"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataplaneStats, MessageCount};
    use crate::fastpath::Function;

    fn stats() -> Stats {
        Stats {
            function: Function::Lma,
            bindings: 3,
            keys_in_use: 4,
            signalling: vec![
                MessageCount {
                    direction: "tx".into(),
                    message: "pba".into(),
                    status: Some("ACCEPTED".into()),
                    count: 7,
                },
                MessageCount { direction: "rx".into(), message: "pbu".into(), status: None, count: 9 },
            ],
            events: [("pbu-duplicates".to_string(), 2)].into(),
            dataplane: Some(DataplaneStats {
                ports: vec![PortStats { name: "core\"0".into(), rx_packets: 5, ..Default::default() }],
                workers: vec![],
                drops: [("no-binding".to_string(), 11)].into(),
                totals: Default::default(),
            }),
            state: [("lma.bces".to_string(), 3)].into(),
            signalling_latency: Some(latencies(&[40, 50, 51, 3_000, 20_000_000])),
        }
    }

    fn latencies(us: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        for &u in us {
            h.observe(u);
        }
        h
    }

    fn peer() -> PeerView {
        PeerView {
            address: "2001:db8:1::1".parse().unwrap(),
            framing: "ipv6".into(),
            bindings: 3,
            state: "up".into(),
            missing: 1,
            restart_counter: Some(6),
            requests_sent: 10,
            responses_received: 9,
            signalling_admitted: 12,
            signalling_rate_limited: 4,
        }
    }

    #[test]
    fn exposition_has_types_labels_and_escaping() {
        let text = render(&stats(), &[peer()]);
        assert!(text.contains("# TYPE pmipgw_signalling_messages_total counter\n"));
        assert!(text.contains("pmipgw_bindings{role=\"lma\"} 3\n"));
        assert!(
            text.contains("pmipgw_signalling_messages_total{direction=\"tx\",message=\"pba\",status=\"ACCEPTED\"} 7\n")
        );
        assert!(text.contains("pmipgw_signalling_messages_total{direction=\"rx\",message=\"pbu\",status=\"\"} 9\n"));
        assert!(text.contains("pmipgw_control_events_total{event=\"pbu-duplicates\"} 2\n"));
        assert!(text.contains("pmipgw_state{item=\"lma.bces\"} 3\n"), "{text}");
        assert!(text.contains("pmipgw_peer_restart_counter{peer=\"2001:db8:1::1\"} 6\n"));
        assert!(text.contains("pmipgw_port_rx_packets_total{port=\"core\\\"0\"} 5\n"), "{text}");
        assert!(text.contains("pmipgw_drops_total{reason=\"no-binding\"} 11\n"));
        // Buckets are cumulative, bounds inclusive (40 and 50 µs in the first), in seconds; +Inf holds all.
        assert!(text.contains("# TYPE pmipgw_signalling_latency_seconds histogram\n"), "{text}");
        let bucket = "pmipgw_signalling_latency_seconds_bucket{role=\"lma\",le=";
        for (le, n) in [("0.00005", 2), ("0.0001", 3), ("0.0025", 3), ("0.005", 4), ("10", 4), ("+Inf", 5)] {
            assert!(text.contains(&format!("{bucket}\"{le}\"}} {n}\n")), "le={le}: {text}");
        }
        assert!(text.contains("pmipgw_signalling_latency_seconds_sum{role=\"lma\"} 20.003141\n"), "{text}");
        assert!(text.contains("pmipgw_signalling_latency_seconds_count{role=\"lma\"} 5\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            let value = value.parse::<f64>().unwrap_or_else(|_| panic!("bad sample line {line:?}"));
            assert!(value.is_finite() && value >= 0.0, "{line}");
        }
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn http_endpoint_serves_metrics_and_refuses_the_rest() {
        let server = spawn("127.0.0.1:0".parse().unwrap(), || Ok(render(&stats(), &[peer()]))).unwrap();
        let addr = server.local_addr();
        let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(ok.contains("pmipgw_bindings{role=\"lma\"} 3"));
        let (head, body) = ok.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(get(addr, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        drop(server);
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(), "stopped");
    }

    #[test]
    fn a_failing_source_is_a_500() {
        let server = spawn("127.0.0.1:0".parse().unwrap(), || Err("control thread busy".into())).unwrap();
        let r = get(server.local_addr(), "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 500") && r.contains("control thread busy"), "{r}");
    }
}
