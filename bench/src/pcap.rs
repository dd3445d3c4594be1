//! Input pcaps: one frame per binding of the traffic model, in a shuffled order, replayed by `net_pcap` with
//! `infinite_rx=1` (or by pktgen-dpdk with `-s P:file.pcap`).

use crate::keys::{permutation, KeySampler, Popularity};
use crate::traffic::{self, Direction};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Duration;

/// Which packets a pcap holds.
#[derive(Clone, Copy, Debug)]
pub struct PcapSpec {
    pub direction: Direction,
    pub bindings: u32,
    /// Inner IP packet length.
    pub inner_len: usize,
    /// Uniform: every binding exactly once, in a random order. Zipf: `packets` draws.
    pub popularity: Popularity,
    pub packets: u32,
    /// Keep only bindings `i` with `i % workers == worker` (the share one RSS queue would see).
    pub worker: u32,
    pub workers: u32,
}

impl PcapSpec {
    /// Every binding once, shuffled: what the throughput runs replay.
    pub fn uniform(direction: Direction, bindings: u32, inner_len: usize) -> Self {
        PcapSpec {
            direction,
            bindings,
            inner_len,
            popularity: Popularity::Uniform,
            packets: bindings,
            worker: 0,
            workers: 1,
        }
    }

    /// The binding indices, in file order.
    pub fn indices(&self) -> Vec<u32> {
        let seed = 0x9e37 ^ u64::from(self.bindings);
        let all: Vec<u32> = match self.popularity {
            Popularity::Uniform => permutation(self.bindings, seed),
            Popularity::Zipf(_) => {
                let mut s = KeySampler::new(self.bindings, self.popularity, seed);
                (0..self.packets).map(|_| s.draw()).collect()
            }
        };
        all.into_iter().filter(|i| i % self.workers == self.worker).collect()
    }
}

/// Writes the pcap; returns the number of frames.
pub fn write(path: &Path, spec: &PcapSpec) -> io::Result<usize> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let header = PcapHeader { datalink: DataLink::ETHERNET, ..PcapHeader::default() };
    let mut writer = PcapWriter::with_header(file, header).map_err(io::Error::other)?;
    let indices = spec.indices();
    for (n, &i) in indices.iter().enumerate() {
        let frame = traffic::frame(spec.direction, i, spec.inner_len);
        let packet = PcapPacket::new(Duration::from_micros(n as u64), frame.len() as u32, &frame);
        writer.write_packet(&packet).map_err(io::Error::other)?;
    }
    writer.into_writer().into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(indices.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn uniform_pcap_has_every_binding_once_and_split_pcaps_partition_it() {
        let d = Direction::ALL[0];
        let dir = std::env::temp_dir().join(format!("pmipgw-bench-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.pcap");
        assert_eq!(write(&path, &PcapSpec::uniform(d, 100, 64)).unwrap(), 100);
        let mut reader = PcapReader::new(File::open(&path).unwrap()).unwrap();
        let mut count = 0;
        while let Some(p) = reader.next_packet() {
            assert_eq!(p.unwrap().data.len(), traffic::frame_len(d, 64));
            count += 1;
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(count, 100);
        let q0 = PcapSpec { workers: 2, ..PcapSpec::uniform(d, 100, 64) }.indices();
        let q1 = PcapSpec { workers: 2, worker: 1, ..PcapSpec::uniform(d, 100, 64) }.indices();
        assert_eq!(q0.len() + q1.len(), 100);
        assert!(q0.iter().all(|i| i % 2 == 0) && q1.iter().all(|i| i % 2 == 1));
    }
}
