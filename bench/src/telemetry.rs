//! A minimal client of DPDK's telemetry socket (`/var/run/dpdk/<prefix>/dpdk_telemetry.v2`, SOCK_SEQPACKET,
//! JSON): how the harness reads the same port counters from pmipgw and from testpmd while they run.

use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The telemetry socket of the DPDK process started with `--file-prefix prefix` (as root).
pub fn socket_path(prefix: &str) -> PathBuf {
    Path::new("/var/run/dpdk").join(prefix).join("dpdk_telemetry.v2")
}

pub struct Telemetry {
    socket: Socket,
    buf: Vec<u8>,
}

/// Port counters at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortSample {
    pub at: Option<Instant>,
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub rx_nombuf: u64,
}

impl Telemetry {
    pub fn connect(path: &Path) -> io::Result<Telemetry> {
        let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        socket.connect(&SockAddr::unix(path)?)?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut t = Telemetry { socket, buf: vec![0; 1 << 16] };
        t.receive()?; // the greeting: version, pid, max_output_len
        Ok(t)
    }

    /// Sends one command (e.g. `/ethdev/stats,0`) and returns the JSON reply.
    pub fn query(&mut self, command: &str) -> io::Result<serde_json::Value> {
        (&self.socket).write_all(command.as_bytes())?;
        self.receive()
    }

    fn receive(&mut self) -> io::Result<serde_json::Value> {
        let n = (&self.socket).read(&mut self.buf)?;
        serde_json::from_slice(&self.buf[..n]).map_err(io::Error::other)
    }

    /// `rte_eth_stats` of `port`, stamped with the time of the reply.
    pub fn port_stats(&mut self, port: u16) -> io::Result<PortSample> {
        let reply = self.query(&format!("/ethdev/stats,{port}"))?;
        let at = Instant::now();
        let stats = &reply["/ethdev/stats"];
        let field = |name: &str| {
            stats[name].as_u64().ok_or_else(|| io::Error::other(format!("telemetry reply without {name}: {reply}")))
        };
        Ok(PortSample {
            at: Some(at),
            ipackets: field("ipackets")?,
            opackets: field("opackets")?,
            ibytes: field("ibytes")?,
            obytes: field("obytes")?,
            imissed: field("imissed")?,
            rx_nombuf: field("rx_nombuf")?,
        })
    }
}

/// Packets per second transmitted between two samples.
pub fn tx_rate(a: &PortSample, b: &PortSample) -> f64 {
    let seconds = match (a.at, b.at) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    if seconds <= 0.0 {
        return 0.0;
    }
    b.opackets.saturating_sub(a.opackets) as f64 / seconds
}
