//! Writes input pcaps of the traffic model (for pktgen-dpdk's `-s P:file.pcap`, or any replay tool) and, with
//! `--dut-configs`, the matching pmipgw configurations for a two-port gateway on real NICs.
//!
//! `pcapgen --out bench/pktgen/pcap --bindings 1000 --sizes 64`
//! `pcapgen --out /tmp/dut --bindings 1000000 --sizes 64,512 --dut-configs --core 0000:01:00.0 --pdn 0000:01:00.1`
//!
//! Files: `<direction>-<N>-<size>.pcap` (every binding once, shuffled; `--zipf S --packets P` for P draws with
//! Zipf popularity instead) and `<function>-<family>-<N>-dut.toml`.

use bench::gateway_config::{self, GatewayRun, PortSpec};
use bench::keys::Popularity;
use bench::pcap::{self, PcapSpec};
use bench::results::short_count;
use bench::traffic::Direction;
use clap::Parser;
use dataplane::binding::Function;
use dataplane::nexthop::IpFamily;
use std::path::PathBuf;

#[derive(Parser, Debug)]
struct Cli {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    bindings: Vec<u32>,
    /// Inner IP packet sizes.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    sizes: Vec<usize>,
    #[arg(long, value_delimiter = ',', default_value = "all")]
    directions: Vec<String>,
    /// Zipf exponent: draw --packets frames with this skew instead of every binding once.
    #[arg(long)]
    zipf: Option<f64>,
    #[arg(long, default_value_t = 1 << 20)]
    packets: u32,
    /// Also write pmipgw configurations for a two-port gateway (the bindings of the pcaps).
    #[arg(long)]
    dut_configs: bool,
    /// The gateway's `core` port (PCI address) in those configurations.
    #[arg(long, default_value = "0000:01:00.0")]
    core: String,
    /// The gateway's PDN-side (LMA `sgi`) or UE-side (MAG `access`) port.
    #[arg(long, default_value = "0000:01:00.1")]
    pdn: String,
    /// Device arguments of the core port (for a virtual device standing in for a NIC).
    #[arg(long, default_value = "")]
    core_devargs: String,
    #[arg(long, default_value = "")]
    pdn_devargs: String,
    /// More EAL arguments for the configurations (e.g. `--no-huge,-m,512` for virtual devices).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    eal: Vec<String>,
    /// EAL lcores of the gateway (first = control thread).
    #[arg(long, default_value = "0-1")]
    lcores: String,
}

fn main() -> Result<(), String> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
    let directions: Vec<Direction> = if cli.directions.iter().any(|d| d == "all") {
        Direction::ALL.to_vec()
    } else {
        cli.directions
            .iter()
            .map(|d| Direction::parse(d).ok_or(format!("unknown direction {d}")))
            .collect::<Result<_, _>>()?
    };
    let popularity = cli.zipf.map_or(Popularity::Uniform, Popularity::Zipf);
    for &n in &cli.bindings {
        for &direction in &directions {
            for &size in &cli.sizes {
                let packets = if popularity == Popularity::Uniform { n } else { cli.packets };
                let spec = PcapSpec { popularity, packets, ..PcapSpec::uniform(direction, n, size) };
                let skew =
                    if popularity == Popularity::Uniform { String::new() } else { format!("-{}", popularity.name()) };
                let path = cli.out.join(format!("{direction}-{}-{size}{skew}.pcap", short_count(n)));
                let frames = pcap::write(&path, &spec).map_err(|e| format!("{}: {e}", path.display()))?;
                println!("{}: {frames} frames", path.display());
            }
        }
        if cli.dut_configs {
            for function in [Function::Lma, Function::Mag] {
                for family in [IpFamily::V6, IpFamily::V4] {
                    let name = format!("{:?}-{:?}-{}-dut.toml", function, family, short_count(n)).to_lowercase();
                    let path = cli.out.join(name);
                    let mut ports = PortSpec::two_armed(function, &cli.core, &cli.pdn);
                    ports[0].devargs = cli.core_devargs.clone();
                    ports[1].devargs = cli.pdn_devargs.clone();
                    let mut eal_args = vec!["--log-level".to_string(), "lib.eal:warning".to_string()];
                    eal_args.extend(cli.eal.iter().cloned());
                    let run = GatewayRun {
                        function,
                        family,
                        bindings: n,
                        lcores: cli.lcores.clone(),
                        eal_args,
                        ports,
                        mempool_size: 65535,
                        table_capacity: None,
                        gateway_extra: String::new(),
                        extra: String::new(),
                    };
                    gateway_config::write(&path, &run).map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("{}: {n} bindings", path.display());
                }
            }
        }
    }
    Ok(())
}
