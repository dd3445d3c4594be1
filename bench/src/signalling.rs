//! Proxy Binding Updates of the benchmark: UE `i`'s initial attach, from one MAG to one LMA, encoded with the real
//! codec — for the in-process signalling figure and for the pcap the punt-path run replays.

use crate::traffic::{GATEWAY_MAC, LMAA6, PCOA6, PEER_MAC};
use controlplane::time::Now;
use controlplane::transport::{self, FrameHeader, Framing};
use controlplane::wire::{
    AccessTechType, Apn, BuFlags, GreKeyOpt, HandoffIndicator, Ipv4HoaRequest, Ipv6Prefix, MhOptions, MhRepr, MnId,
    PbuRepr,
};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// The PBU of UE `i` (NAI `00101<i>@…`, downlink key `0x100 + i`, IPv4v6 on APN `internet`, HI 1), stamped `now`.
pub fn pbu(i: u32, now: Now) -> PbuRepr {
    PbuRepr {
        seq: (i & 0xffff) as u16,
        flags: BuFlags::PBU,
        lifetime_units: 900,
        options: MhOptions {
            mn_id: Some(MnId::Nai(format!("00101{i:010}@nai.epc.mnc001.mcc001.3gppnetwork.org"))),
            service_selection: Some(Apn::from_dotted("internet").expect("a valid APN")),
            hnps: vec![Ipv6Prefix::UNSPECIFIED],
            ipv4_hoa_reqs: vec![Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }],
            hi: Some(HandoffIndicator::NEW_INTERFACE),
            att: Some(AccessTechType::EUTRAN),
            timestamp: Some(now.timestamp()),
            gre_key: Some(GreKeyOpt::Key(0x100 + i)),
            ..Default::default()
        },
    }
}

/// A second MAG, for the fairness run (`harness --punt-second-peer-every`).
pub const SECOND_MAG: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

/// Appends UE `i`'s PBU as an IPv6 packet (native framing, MAG → LMA) to `buf`; returns its range.
pub fn append_pbu_packet(i: u32, now: Now, buf: &mut Vec<u8>) -> std::ops::Range<usize> {
    append_pbu_packet_from(PCOA6, i, now, buf)
}

/// [`append_pbu_packet`] from the MAG at `mag`.
pub fn append_pbu_packet_from(mag: Ipv6Addr, i: u32, now: Now, buf: &mut Vec<u8>) -> std::ops::Range<usize> {
    let header = FrameHeader::new(Framing::Ipv6, mag.into(), LMAA6.into());
    let msg = MhRepr::Pbu(pbu(i, now));
    let start = buf.len();
    buf.resize(start + header.buffer_len(&msg), 0);
    transport::emit(&header, &msg, &mut buf[start..]).expect("a PBU fits its buffer");
    start..buf.len()
}

/// Writes a pcap of the PBUs of UEs `0..n` in Ethernet frames to the gateway; with `second_every`, every that
/// many one comes from [`SECOND_MAG`] instead (for UEs of its own).
pub fn write_pbu_pcap(path: &Path, n: u32, now: Now, second_every: Option<u32>) -> std::io::Result<()> {
    write_pbus(path, n, now, second_every, 0)
}

/// Writes a pcap of the PBUs of UEs `0..n`, each followed by `fillers` frames the gateway drops at once (an
/// EtherType it does not serve): read once, it offers distinct new attaches at the reading rate divided by
/// `fillers + 1`.
pub fn write_paced_pbu_pcap(path: &Path, n: u32, now: Now, fillers: u32) -> std::io::Result<()> {
    write_pbus(path, n, now, None, fillers)
}

fn write_pbus(path: &Path, n: u32, now: Now, second_every: Option<u32>, fillers: u32) -> std::io::Result<()> {
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let header = PcapHeader { datalink: DataLink::ETHERNET, ..PcapHeader::default() };
    let mut writer = PcapWriter::with_header(file, header).map_err(std::io::Error::other)?;
    let mut filler = [0u8; 60];
    filler[..6].copy_from_slice(&GATEWAY_MAC);
    filler[6..12].copy_from_slice(&PEER_MAC);
    filler[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    let mut packet = Vec::with_capacity(256);
    for i in 0..n {
        packet.clear();
        packet.extend_from_slice(&GATEWAY_MAC);
        packet.extend_from_slice(&PEER_MAC);
        packet.extend_from_slice(&0x86ddu16.to_be_bytes());
        match second_every {
            Some(every) if i % every.max(1) == every.max(1) - 1 => {
                append_pbu_packet_from(SECOND_MAG, 2_000_000_000 + i, now, &mut packet)
            }
            _ => append_pbu_packet(i, now, &mut packet),
        };
        let frame = PcapPacket::new(Duration::from_micros(u64::from(i)), packet.len() as u32, &packet);
        writer.write_packet(&frame).map_err(std::io::Error::other)?;
        for _ in 0..fillers {
            let frame = PcapPacket::new(Duration::from_micros(u64::from(i)), filler.len() as u32, &filler);
            writer.write_packet(&frame).map_err(std::io::Error::other)?;
        }
    }
    Ok(())
}

/// The accepting PBAs of a gateway's transmit capture: how many, and the capture times of the first and the last.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptedPbas {
    pub accepted: u32,
    pub first_s: f64,
    pub last_s: f64,
}

/// Reads the accepting PBAs (IPv6 framing, as the bench's MAG sends) from the capture at `path`.
pub fn accepted_pbas(path: &Path) -> std::io::Result<AcceptedPbas> {
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut reader = pcap_file::pcap::PcapReader::new(file).map_err(std::io::Error::other)?;
    let mut seen = AcceptedPbas::default();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(std::io::Error::other)?;
        let Some(ip) = packet.data.get(14..) else { continue };
        let Ok(frame) = transport::parse(ip) else { continue };
        let Ok(MhRepr::Pba(pba)) = frame.repr() else { continue };
        if pba.status != controlplane::wire::BaStatus::ACCEPTED {
            continue;
        }
        let at = packet.timestamp.as_secs_f64();
        if seen.accepted == 0 {
            seen.first_s = at;
        }
        seen.last_s = at;
        seen.accepted += 1;
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use controlplane::time::Millis;

    #[test]
    fn pbus_parse_back_with_their_own_key_and_nai() {
        let now = Now::virtual_at(Millis(0), Duration::from_secs(1_704_067_200));
        let mut buf = Vec::new();
        let range = append_pbu_packet(7, now, &mut buf);
        let frame = transport::parse(&buf[range]).unwrap();
        let MhRepr::Pbu(p) = frame.repr().unwrap() else { panic!("not a PBU") };
        assert_eq!(p.options.gre_key, Some(GreKeyOpt::Key(0x107)));
        assert_eq!(p.options.mn_id, Some(MnId::Nai("001010000000007@nai.epc.mnc001.mcc001.3gppnetwork.org".into())));
    }
}
