//! Helpers for integration tests that run the real `pmipgw` binary on DPDK virtual devices.
//!
//! EAL initialises once per process, so every scenario spawns the binary: with a unique `--file-prefix`, no
//! hugepages, a bounded run time (the gateway's exit-when-idle option, and a hard kill as a backstop).
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// Hard limit for one gateway run; a run that needs longer is a bug (or a hang) and fails the test.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A scratch directory for one scenario, removed when dropped.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

impl Scenario {
    pub fn new(name: &str) -> Scenario {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("pmipgw-test-{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Scenario { dir: tempfile::Builder::new().prefix(&prefix).tempdir().expect("temp dir"), prefix }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// An LMA's two net_pcap ports — `core` reading `core-in.pcap`, writing `core-out.pcap`; `sgi` reading the
    /// empty `empty.pcap`, writing `sgi-out.pcap` — and its `[api]`, `[metrics]` and restart-counter lines: the
    /// config sections the LMA signalling tests share.
    pub fn lma_pcap_sections(&self) -> String {
        format!(
            "[[port]]\nname = \"core\"\ndevice = \"net_pcap0\"\ndevargs = \"rx_pcap={core_in},tx_pcap={core_out}\"\n\
             roles = [\"core\"]\nnext_hop_mac = \"02:00:00:00:c0:01\"\n\n\
             [[port]]\nname = \"sgi\"\ndevice = \"net_pcap1\"\ndevargs = \"rx_pcap={empty},tx_pcap={sgi_out}\"\n\
             roles = [\"sgi\"]\nnext_hop_mac = \"02:00:00:00:5a:01\"\n\n\
             [api]\nsocket = \"{socket}\"\n[metrics]\nenabled = false\n\n",
            core_in = self.path("core-in.pcap").display(),
            core_out = self.path("core-out.pcap").display(),
            empty = self.path("empty.pcap").display(),
            sgi_out = self.path("sgi-out.pcap").display(),
            socket = self.path("api.sock").display(),
        )
    }

    /// The `[dpdk]` section every test config starts with: no hugepages, no shared config, no PCI, a unique
    /// prefix, a small pool.
    pub fn dpdk_section(&self) -> String {
        format!(
            "[dpdk]\nlcores = \"0\"\neal_args = [\"--no-huge\", \"--no-shconf\", \"--no-pci\", \"-m\", \"256\", \
             \"--file-prefix\", \"{}\", \"--log-level\", \"lib.eal:warning\"]\nmempool_size = 4095\n\n\
             [run]\nexit_when_idle_ms = 300\n[run.idle]\npolicy = \"sleep\"\nsleep_us = 200\n\n",
            self.prefix
        )
    }

    pub fn write_config(&self, body: &str) -> PathBuf {
        let path = self.path("gateway.toml");
        std::fs::write(&path, body).expect("writing config");
        path
    }
}

/// Runs `pmipgw` with `args`, killing it if it outlives [`RUN_LIMIT`].
pub fn run_gateway(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pmipgw"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning pmipgw");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waiting for pmipgw").is_some() {
            return child.wait_with_output().expect("collecting pmipgw output");
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collecting pmipgw output");
            panic!(
                "pmipgw ran longer than {RUN_LIMIT:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts a successful run and returns its stdout.
pub fn expect_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pmipgw failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("counters JSON")
}

/// Writes Ethernet frames to a pcap file (linktype Ethernet, 1 µs apart).
/// tshark's rows (tab-separated `fields`) of the frames of `pcap` that match `filter`.
pub fn tshark_rows(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r", pcap.to_str().unwrap(), "-Y", filter, "-T", "fields"]);
    for field in fields {
        cmd.args(["-e", field]);
    }
    let out = cmd.output().expect("tshark must be installed (deploy/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// Runs the gateway of `config` (written to the scenario) over `core_input` on the `core` port, nothing on the
/// other; returns its stdout and final counters.
pub fn run_lma_pcap(s: &Scenario, config: &str, core_input: &[Vec<u8>]) -> (String, serde_json::Value) {
    write_pcap(&s.path("core-in.pcap"), core_input);
    write_pcap(&s.path("empty.pcap"), &[]);
    let config = s.write_config(config);
    let json = s.path("counters.json");
    let out = run_gateway(&["-c", config.to_str().unwrap(), "--counters-json", json.to_str().unwrap()]);
    let stdout = expect_success(&out);
    (stdout, read_json(&json))
}

pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("creating pcap");
    let mut writer = PcapWriter::new(file).expect("pcap header");
    for (i, frame) in frames.iter().enumerate() {
        let packet = PcapPacket::new(Duration::from_micros(i as u64), frame.len() as u32, frame);
        writer.write_packet(&packet).expect("writing pcap packet");
    }
}

/// Reads every frame of a pcap file.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut reader = PcapReader::new(file).expect("pcap header");
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.expect("pcap packet").data.into_owned());
    }
    frames
}

/// Parses `aa:bb:..` into bytes.
pub fn mac(text: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (byte, part) in out.iter_mut().zip(text.split(':')) {
        *byte = u8::from_str_radix(part, 16).expect("hex MAC");
    }
    out
}

/// A frame every gateway drops at once (an IEEE local experimental EtherType): put between a PBU and the traffic
/// that needs its tunnel, it gives the control thread time to install the tunnel, as a MAG waits for the PBA.
pub fn filler() -> Vec<u8> {
    let mut frame = vec![0u8; 60];
    frame[..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x98, 2, 0, 0, 0, 0, 0x99]);
    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
    frame
}

/// UE `ue`'s initial attach (its own NAI, downlink key `0x100 + ue`, a home network prefix asked for, and with
/// `ipv4` an IPv4 home address too) from `mag` to `lmaa` over IPv6, as an Ethernet frame.
pub fn initial_attach(mag: std::net::Ipv6Addr, lmaa: std::net::Ipv6Addr, ue: u32, ipv4: bool) -> Vec<u8> {
    use controlplane::transport::{self, FrameHeader, Framing};
    use controlplane::wire::{
        AccessTechType, Apn, BuFlags, GreKeyOpt, HandoffIndicator, Ipv4HoaRequest, Ipv6Prefix, MhOptions, MhRepr, MnId,
        PbuRepr, Timestamp,
    };
    let pbu = PbuRepr {
        seq: (ue & 0xffff) as u16,
        flags: BuFlags::PBU,
        lifetime_units: 900,
        options: MhOptions {
            mn_id: Some(MnId::Nai(format!("00101{ue:010}@nai.epc.mnc001.mcc001.3gppnetwork.org"))),
            service_selection: Some(Apn::from_dotted("internet").expect("a valid APN")),
            hnps: vec![Ipv6Prefix::UNSPECIFIED],
            ipv4_hoa_reqs: if ipv4 {
                vec![Ipv4HoaRequest { prefix_len: 0, addr: std::net::Ipv4Addr::UNSPECIFIED }]
            } else {
                Vec::new()
            },
            hi: Some(HandoffIndicator::NEW_INTERFACE),
            att: Some(AccessTechType::EUTRAN),
            timestamp: Some(Timestamp::from_parts(1_704_067_201, 0)),
            gre_key: Some(GreKeyOpt::Key(0x100 + ue)),
            ..Default::default()
        },
    };
    let header = FrameHeader::new(Framing::Ipv6, mag.into(), lmaa.into());
    let msg = MhRepr::Pbu(pbu);
    let mut frame = vec![0u8; 14 + header.buffer_len(&msg)];
    frame[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0x99, 0x99]);
    frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    transport::emit(&header, &msg, &mut frame[14..]).expect("a PBU fits its buffer");
    frame
}
