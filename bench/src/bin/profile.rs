//! A fixed amount of pipeline work for profilers: builds the in-process gateway for one direction and N
//! bindings, then pushes `--bursts` bursts of 64 packets (uniform over the bindings) through
//! `FastPath::process_burst`. Under callgrind, count only the pipeline:
//!
//! `valgrind --tool=callgrind --toggle-collect='*pipeline_work*' target/release/profile --direction lma-up-v6 --bindings 1000`
//!
//! and divide the instructions by the packets it prints. `--schedule` picks how bursts run (default: by the
//! table's size, as in production), e.g. `stages` for the general way the express lane is compared with.

use bench::inproc::Gateway;
use bench::keys::permutation;
use bench::traffic::{self, Direction};
use clap::Parser;
use dataplane::packet::VecPacket;
use dataplane::pipeline::{Next, Schedule};
use dataplane::PortIndex;

#[derive(Parser, Debug)]
struct Cli {
    #[arg(long)]
    direction: String,
    #[arg(long, default_value_t = 1000)]
    bindings: u32,
    #[arg(long, default_value_t = 2000)]
    bursts: u32,
    #[arg(long, default_value_t = 64)]
    inner_len: usize,
    /// by-size, one-pass, prefetching-lane or stages.
    #[arg(long, default_value = "by-size", value_parser = parse_schedule)]
    schedule: Schedule,
}

fn parse_schedule(name: &str) -> Result<Schedule, String> {
    match name {
        "by-size" => Ok(Schedule::BySize),
        "one-pass" => Ok(Schedule::OnePass),
        "prefetching-lane" => Ok(Schedule::PrefetchingLane),
        "stages" => Ok(Schedule::Stages),
        other => Err(format!("{other}: not one of by-size, one-pass, prefetching-lane, stages")),
    }
}

const BURST: usize = 64;

/// The measured part, kept out of line so a profiler can select it by name.
#[inline(never)]
fn pipeline_work(gw: &Gateway, burst: &mut [VecPacket], nexts: &mut [Next]) {
    gw.fast_path.process_burst(PortIndex(0), burst, nexts);
}

fn main() {
    let cli = Cli::parse();
    let direction = Direction::parse(&cli.direction).expect("a direction such as lma-up-v6");
    let mut gw = Gateway::new(direction.function, direction.family, cli.bindings, cli.bindings as usize);
    gw.fast_path.set_schedule(cli.schedule);
    let order = permutation(cli.bindings, 1);
    let frames: Vec<VecPacket> =
        order.iter().take(1 << 16).map(|&i| VecPacket::new(&traffic::frame(direction, i, cli.inner_len))).collect();
    let mut forwarded = 0u64;
    let mut next = 0;
    let mut nexts = [Next::PUNT; BURST];
    for _ in 0..cli.bursts {
        let mut burst: Vec<VecPacket> = (0..BURST)
            .map(|_| {
                next = (next + 1) % frames.len();
                frames[next].clone()
            })
            .collect();
        pipeline_work(&gw, &mut burst, &mut nexts);
        forwarded += nexts.iter().filter(|n| n.port().is_some()).count() as u64;
    }
    println!("{direction}: {} packets, {forwarded} forwarded", u64::from(cli.bursts) * BURST as u64);
}
