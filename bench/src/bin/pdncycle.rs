//! Creates and deletes PDN connections at an LMA as fast as it answers, with a bounded number alive: the shape
//! that ran VPP's GTP-U tunnels out of memory (FD.io VPP-1867: ~0.5M creates with 10k live). A MAG of its own,
//! speaking RFC 5844 IPv4-UDP signalling (`IPv4 | UDP 5436 | Mobility Header`) from an ordinary UDP socket:
//! PBU (HI 1, new UE, IPv4v6 on APN `internet`) → PBA accepted → later a de-registration PBU (lifetime 0) with the
//! granted prefix and address → PBA accepted. Up to `--window` PBUs are outstanding; one unanswered for a second
//! is sent again. Prints a progress line a second, and a JSON summary at the end; exits 1 if any PBU was refused
//! or never answered.
//!
//! `pdncycle --lma 198.51.100.1 --local 198.51.100.11 --creates 1000000 --live 10000`

use clap::Parser;
use controlplane::time::SystemClock;
use controlplane::wire::{
    AccessTechType, Apn, BaStatus, BuFlags, GreKeyOpt, HandoffIndicator, Ipv4HoaRequest, Ipv6Prefix, MhOptions,
    MhPacket, MhRepr, PbuRepr,
};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// RFC 5844 §4 / TS 29.275: the PMIPv6 control port.
const PORT: u16 = 5436;
/// Give up when the LMA has answered nothing for this long.
const STALL: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
struct Cli {
    /// The LMA's IPv4 address.
    #[arg(long)]
    lma: Ipv4Addr,
    /// This MAG's IPv4 address (bound locally; the LMA must allow it).
    #[arg(long)]
    local: Ipv4Addr,
    /// PDN connections to create (each is deleted again).
    #[arg(long, default_value_t = 1_000_000)]
    creates: u32,
    /// At most this many alive at once: beyond it the oldest is deleted before the next is created.
    #[arg(long, default_value_t = 10_000)]
    live: usize,
    /// PBUs outstanding at once.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// PBUs per second at most (0: as fast as the LMA answers). A steady rate keeps the number of de-registered
    /// bindings waiting out MinDelayBeforeBCEDelete steady, and with it the LMA's high-water mark of memory.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// First UE number (NAIs and downlink keys derive from it).
    #[arg(long, default_value_t = 0)]
    first: u32,
}

/// A PDN connection the LMA granted: what its de-registration names.
struct Granted {
    ue: u32,
    hnp: Ipv6Prefix,
    hoa: Ipv4HoaRequest,
}

enum Pending {
    Create(u32),
    Delete(Granted),
}

struct Sent {
    what: Pending,
    bytes: Vec<u8>,
    at: Instant,
}

fn nai(ue: u32) -> String {
    format!("00102{ue:010}@nai.epc.mnc001.mcc001.3gppnetwork.org")
}

fn pbu(seq: u16, ue: u32, delete: Option<&Granted>, clock: &SystemClock) -> PbuRepr {
    let (lifetime_units, hi, hnp, hoa, gre_key) = match delete {
        None => (
            900,
            HandoffIndicator::NEW_INTERFACE,
            Ipv6Prefix::UNSPECIFIED,
            Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED },
            Some(GreKeyOpt::Key(0x0100_0000 + (ue & 0x00ff_ffff))),
        ),
        // RFC 5213 §6.9.1.5 / RFC 5845 §4.2: lifetime 0, the assigned prefix and address, no GRE key.
        Some(g) => (0, HandoffIndicator::UNKNOWN, g.hnp, g.hoa, None),
    };
    PbuRepr {
        seq,
        flags: BuFlags::PBU,
        lifetime_units,
        options: MhOptions {
            mn_id: Some(controlplane::wire::MnId::Nai(nai(ue))),
            service_selection: Some(Apn::from_dotted("internet").expect("a valid APN")),
            hnps: vec![hnp],
            ipv4_hoa_reqs: vec![hoa],
            hi: Some(hi),
            att: Some(AccessTechType::EUTRAN),
            timestamp: Some(clock.now().timestamp()),
            gre_key,
            ..Default::default()
        },
    }
}

impl Pending {
    /// Its PBU, stamped now.
    fn pbu(&self, seq: u16, clock: &SystemClock) -> PbuRepr {
        match self {
            Pending::Create(ue) => pbu(seq, *ue, None, clock),
            Pending::Delete(g) => pbu(seq, g.ue, Some(g), clock),
        }
    }
}

/// Sends `what`'s PBU under the next sequence number and keeps it until its PBA comes.
fn send(
    socket: &UdpSocket,
    outstanding: &mut HashMap<u16, Sent>,
    next_seq: &mut u16,
    what: Pending,
    clock: &SystemClock,
) {
    let bytes = encode(what.pbu(*next_seq, clock));
    socket.send(&bytes).expect("sending a PBU");
    outstanding.insert(*next_seq, Sent { what, bytes, at: Instant::now() });
    *next_seq = next_seq.wrapping_add(1).max(1);
}

fn encode(repr: PbuRepr) -> Vec<u8> {
    let repr = MhRepr::Pbu(repr);
    let mut buf = vec![0u8; repr.buffer_len()];
    let len = repr.emit(&mut buf).expect("a PBU fits its buffer");
    buf.truncate(len);
    buf
}

fn main() {
    let cli = Cli::parse();
    let socket = UdpSocket::bind(SocketAddr::from((cli.local, PORT)))
        .unwrap_or_else(|e| panic!("binding {}:{PORT}: {e}", cli.local));
    socket.connect(SocketAddr::from((cli.lma, PORT))).expect("connecting the UDP socket");
    socket.set_read_timeout(Some(Duration::from_millis(5))).expect("a read timeout");
    let clock = SystemClock::new();

    let mut outstanding: HashMap<u16, Sent> = HashMap::new();
    let mut live: VecDeque<Granted> = VecDeque::new();
    let (mut created, mut deleted, mut next_ue) = (0u64, 0u64, cli.first);
    let (mut resent, mut refused, mut unexpected) = (0u64, Vec::new(), 0u64);
    let (mut resynchronised, mut slowest) = (0u64, Duration::ZERO);
    // PBU → PBA of every answer (a retransmitted PBU counts from its last sending), microseconds.
    let mut latencies: Vec<u32> = Vec::with_capacity(2 * cli.creates as usize);
    let mut creating = 0usize;
    let mut next_seq: u16 = 1;
    let mut sent_total = 0u64;
    let started = Instant::now();
    let mut last_report = started;
    let mut last_answer = started;
    let mut buf = [0u8; 4096];
    let end_ue = cli.first + cli.creates;
    loop {
        // Fill the window: a create while fewer than `live` are alive or being created, else delete the oldest.
        let allowed =
            if cli.rate == 0 { u64::MAX } else { (started.elapsed().as_secs_f64() * f64::from(cli.rate)) as u64 };
        while outstanding.len() < cli.window && sent_total < allowed {
            let what = if next_ue < end_ue && live.len() + creating < cli.live {
                next_ue += 1;
                creating += 1;
                Pending::Create(next_ue - 1)
            } else if let Some(g) = live.pop_front() {
                Pending::Delete(g)
            } else {
                break;
            };
            send(&socket, &mut outstanding, &mut next_seq, what, &clock);
            sent_total += 1;
        }
        if outstanding.is_empty() && next_ue >= end_ue && live.is_empty() {
            break;
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                last_answer = Instant::now();
                let parsed = MhPacket::new_checked(&buf[..n]).and_then(|p| MhRepr::parse(&p));
                let Ok(MhRepr::Pba(pba)) = parsed else {
                    unexpected += 1;
                    continue;
                };
                let Some(sent) = outstanding.remove(&pba.seq) else {
                    unexpected += 1; // the answer to a PBU sent twice
                    continue;
                };
                let latency = sent.at.elapsed();
                slowest = slowest.max(latency);
                latencies.push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
                if pba.status == BaStatus::TIMESTAMP_MISMATCH {
                    // Stamped too long before the LMA read it (outside its TimestampValidityWindow, RFC 5213 §5.5): a
                    // fresh stamp and a new sequence number, and again.
                    resynchronised += 1;
                    send(&socket, &mut outstanding, &mut next_seq, sent.what, &clock);
                    continue;
                }
                if !pba.status.is_accepted() {
                    refused.push(format!("seq {}: status {}", pba.seq, pba.status.0));
                    if refused.len() > 20 {
                        break;
                    }
                }
                match sent.what {
                    Pending::Create(ue) => {
                        creating -= 1;
                        created += 1;
                        let hnp = pba.options.hnps.first().copied().unwrap_or(Ipv6Prefix::UNSPECIFIED);
                        let hoa = pba
                            .options
                            .ipv4_hoa_reply
                            .map_or(Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }, |r| {
                                Ipv4HoaRequest { prefix_len: r.prefix_len, addr: r.addr }
                            });
                        if pba.status.is_accepted() {
                            live.push_back(Granted { ue, hnp, hoa });
                        }
                    }
                    Pending::Delete(_) => deleted += 1,
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("receiving: {e}"),
        }
        let now = Instant::now();
        if now.duration_since(last_answer) > STALL {
            refused.push(format!("no answer from the LMA for {STALL:?}"));
            break;
        }
        for sent in outstanding.values_mut().filter(|s| now.duration_since(s.at) > Duration::from_secs(1)) {
            // Lost on the way (a full punt queue drops): the same PBU again, as a MAG retransmits.
            socket.send(&sent.bytes).expect("sending a PBU again");
            sent.at = now;
            resent += 1;
        }
        if now.duration_since(last_report) >= Duration::from_secs(1) {
            last_report = now;
            println!(
                "progress created={created} deleted={deleted} live={} resent={resent} seconds={:.1}",
                live.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let at = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(at).map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    let summary = json!({
        "creates": created, "deletes": deleted, "seconds": seconds,
        "pbus_per_second": (created + deleted) as f64 / seconds,
        "retransmissions": resent, "refused": refused, "unexpected": unexpected,
        "timestamp_resynchronised": resynchronised, "slowest_answer_ms": slowest.as_secs_f64() * 1000.0,
        "answer_ms": { "p50": percentile(0.5), "p99": percentile(0.99), "p999": percentile(0.999) },
        "live": cli.live, "window": cli.window,
    });
    println!("summary {summary}");
    if !refused.is_empty() || created != u64::from(cli.creates) || deleted != created {
        std::process::exit(1);
    }
}
