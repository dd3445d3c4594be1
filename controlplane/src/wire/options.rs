//! The owned, typed set of options of one message, with duplicate detection on parse and a deterministic,
//! aligned layout on emit.
//!
//! Decision (documented for the state machines built on top): a typed message does not remember the order or
//! padding it arrived with. Emission always uses the canonical order below, placing each option at its `xn+y`
//! offset with the least padding (Pad1 for one octet, one PadN otherwise) and padding the header to a multiple of
//! 8. The shared vectors were produced in exactly this form, so they re-emit byte-identical; any other valid input
//! re-emits semantically equal (unknown options included, kept by type and length). Exact byte-level access to a
//! received message stays available through [`super::MhPacket::options`].
//!
//! Canonical order: MN-ID, Service Selection, HNPs, IPv4 HoA Requests, IPv4 HoA Reply, IPv4 Default-Router,
//! IPv4 DHCP Support Mode, HI, ATT, MN LL-ID, Link-local Address, Timestamp, GRE Key, Restart Counter,
//! NAT Detection, Alternate CoA, Vendor-Specific options, unknown options. (The RFC 5213 §5.3.1 / TS 29.275
//! option listings, which is also the order of every vector.)

use super::apn::Apn;
use super::error::{Result, WireError};
use super::option::*;
use super::timestamp::Timestamp;
use super::values::*;
use super::vendor::{VendorOpt, VENDOR_3GPP};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Every mobility option a PMIPv6 message may carry, typed. Options a message type does not normally carry are
/// still parsed and kept (the procedures decide what to do with them). Singletons are `Option`; repeatable
/// options are `Vec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MhOptions {
    /// Mobile Node Identifier (type 8).
    pub mn_id: Option<MnId>,
    /// Service Selection (type 20) carrying the APN.
    pub service_selection: Option<Apn>,
    /// Home Network Prefix options (type 22), repeatable (RFC 5213 §8.3), in wire order.
    pub hnps: Vec<Ipv6Prefix>,
    /// IPv4 Home Address Request options (type 36). Kept as a list because RFC 5844 answers more than one with
    /// status 173 (MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED), which the LMA can only do if the codec
    /// hands them all over instead of failing the parse.
    pub ipv4_hoa_reqs: Vec<Ipv4HoaRequest>,
    /// IPv4 Home Address Reply (type 37).
    pub ipv4_hoa_reply: Option<Ipv4HoaReply>,
    /// IPv4 Default-Router Address (type 38).
    pub ipv4_default_router: Option<Ipv4Addr>,
    /// IPv4 DHCP Support Mode (type 39).
    pub dhcp_mode: Option<DhcpSupportMode>,
    /// Handoff Indicator (type 23).
    pub hi: Option<HandoffIndicator>,
    /// Access Technology Type (type 24).
    pub att: Option<AccessTechType>,
    /// Mobile Node Link-layer Identifier (type 25), the identifier octets.
    pub mn_ll_id: Option<Vec<u8>>,
    /// Link-local Address (type 26).
    pub link_local: Option<Ipv6Addr>,
    /// Timestamp (type 27).
    pub timestamp: Option<Timestamp>,
    /// GRE Key (type 33).
    pub gre_key: Option<GreKeyOpt>,
    /// Restart Counter (type 28, heartbeat responses).
    pub restart_counter: Option<u32>,
    /// NAT Detection (type 31).
    pub nat_detection: Option<NatDetection>,
    /// Alternate Care-of Address (type 3).
    pub alt_coa: Option<Ipv6Addr>,
    /// Vendor-Specific options (type 19), repeatable, in wire order.
    pub vendor: Vec<VendorOpt>,
    /// Options the codec does not interpret, in wire order.
    pub unknown: Vec<RawOpt>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, option_type: u8, offset: usize) -> Result<()> {
    if slot.is_some() {
        return Err(WireError::DuplicateOption { option_type, offset });
    }
    *slot = Some(value);
    Ok(())
}

impl MhOptions {
    /// Parses the options area `area`, which starts at offset `base` of the Mobility Header. Accepts any order
    /// and alignment; fails on a malformed option or a second instance of a singleton option.
    pub fn parse(area: &[u8], base: usize) -> Result<Self> {
        let mut o = MhOptions::default();
        for item in OptionIter::new(area, base) {
            let (offset, opt) = item?;
            let ty = opt.opt_type();
            match opt {
                MobilityOption::Pad1 | MobilityOption::PadN(_) => {}
                MobilityOption::MnId { subtype, id } => {
                    let v = match std::str::from_utf8(id) {
                        Ok(s) if subtype == MnId::SUBTYPE_NAI => MnId::Nai(s.to_owned()),
                        _ => MnId::Other { subtype, id: id.to_vec() },
                    };
                    set_once(&mut o.mn_id, v, ty, offset)?
                }
                MobilityOption::ServiceSelection(s) => {
                    let apn = Apn::from_wire(s).map_err(|_| WireError::InvalidValue { what: "APN", offset })?;
                    set_once(&mut o.service_selection, apn, ty, offset)?
                }
                MobilityOption::HomeNetworkPrefix(p) => o.hnps.push(p),
                MobilityOption::Ipv4HoaRequest(r) => o.ipv4_hoa_reqs.push(r),
                MobilityOption::Ipv4HoaReply(r) => set_once(&mut o.ipv4_hoa_reply, r, ty, offset)?,
                MobilityOption::Ipv4DefaultRouter(a) => set_once(&mut o.ipv4_default_router, a, ty, offset)?,
                MobilityOption::Ipv4DhcpSupportMode(m) => set_once(&mut o.dhcp_mode, m, ty, offset)?,
                MobilityOption::HandoffIndicator(h) => set_once(&mut o.hi, h, ty, offset)?,
                MobilityOption::AccessTechType(a) => set_once(&mut o.att, a, ty, offset)?,
                MobilityOption::MnLinkLayerId(id) => set_once(&mut o.mn_ll_id, id.to_vec(), ty, offset)?,
                MobilityOption::LinkLocalAddress(a) => set_once(&mut o.link_local, a, ty, offset)?,
                MobilityOption::Timestamp(t) => set_once(&mut o.timestamp, t, ty, offset)?,
                MobilityOption::GreKey(k) => set_once(&mut o.gre_key, k, ty, offset)?,
                MobilityOption::RestartCounter(c) => set_once(&mut o.restart_counter, c, ty, offset)?,
                MobilityOption::NatDetection(n) => set_once(&mut o.nat_detection, n, ty, offset)?,
                MobilityOption::AlternateCoa(a) => set_once(&mut o.alt_coa, a, ty, offset)?,
                MobilityOption::Vendor(v) => o.vendor.push(v.into_owned()),
                MobilityOption::Unknown { opt_type, data } => o.unknown.push(RawOpt { opt_type, data: data.to_vec() }),
            }
        }
        Ok(o)
    }

    /// Calls `f` with each option in canonical emission order (see the module documentation), borrowing from
    /// `self`, until it fails. Straight-line: a message is emitted several times a PBU under load, and a chain
    /// of eighteen iterators cost several thousand instructions a message.
    fn try_each<E>(
        &self,
        mut f: impl FnMut(MobilityOption<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        if let Some(m) = &self.mn_id {
            f(MobilityOption::MnId { subtype: m.subtype(), id: m.id_bytes() })?;
        }
        if let Some(a) = &self.service_selection {
            f(MobilityOption::ServiceSelection(a.as_wire()))?;
        }
        for p in &self.hnps {
            f(MobilityOption::HomeNetworkPrefix(*p))?;
        }
        for r in &self.ipv4_hoa_reqs {
            f(MobilityOption::Ipv4HoaRequest(*r))?;
        }
        let singletons = [
            self.ipv4_hoa_reply.map(MobilityOption::Ipv4HoaReply),
            self.ipv4_default_router.map(MobilityOption::Ipv4DefaultRouter),
            self.dhcp_mode.map(MobilityOption::Ipv4DhcpSupportMode),
            self.hi.map(MobilityOption::HandoffIndicator),
            self.att.map(MobilityOption::AccessTechType),
            self.mn_ll_id.as_deref().map(MobilityOption::MnLinkLayerId),
            self.link_local.map(MobilityOption::LinkLocalAddress),
            self.timestamp.map(MobilityOption::Timestamp),
            self.gre_key.map(MobilityOption::GreKey),
            self.restart_counter.map(MobilityOption::RestartCounter),
            self.nat_detection.map(MobilityOption::NatDetection),
            self.alt_coa.map(MobilityOption::AlternateCoa),
        ];
        for opt in singletons.into_iter().flatten() {
            f(opt)?;
        }
        for v in &self.vendor {
            f(MobilityOption::Vendor(v.as_borrowed()))?;
        }
        for r in &self.unknown {
            f(MobilityOption::Unknown { opt_type: r.opt_type, data: &r.data })?;
        }
        Ok(())
    }

    /// Offset just past the options and the final padding, when the options area starts at `start`
    /// (an offset in the Mobility Header). The result is a multiple of 8.
    pub fn end_offset(&self, start: usize) -> usize {
        let mut pos = start;
        let _ = self.try_each(|opt| {
            pos += padding_for(pos, opt.alignment()) + opt.wire_len();
            Ok::<(), ()>(())
        });
        pos + padding_for(pos, (8, 0))
    }

    /// Writes the options with alignment padding and the final padding into `mh`, starting at offset `start`
    /// of the Mobility Header `mh` (offsets matter for alignment). Returns the end offset (a multiple of 8).
    pub fn emit(&self, mh: &mut [u8], start: usize) -> Result<usize> {
        self.check_raw()?;
        let mut pos = start;
        self.try_each(|opt| {
            let pad = padding_for(pos, opt.alignment());
            emit_padding(pad, tail(mh, pos)?)?;
            pos += pad;
            pos += opt.emit(tail(mh, pos)?)?;
            Ok(())
        })?;
        let pad = padding_for(pos, (8, 0));
        emit_padding(pad, tail(mh, pos)?)?;
        Ok(pos + pad)
    }

    /// Raw options must be ones the parser would keep raw, or the message would not round-trip.
    fn check_raw(&self) -> Result<()> {
        for r in &self.unknown {
            let probe = MobilityOption::parse(r.opt_type, &r.data, 0);
            if !matches!(probe, Ok(MobilityOption::Unknown { .. })) {
                return Err(WireError::InvalidValue { what: "raw option of an interpreted type", offset: 0 });
            }
        }
        if self.vendor.iter().any(|v| matches!(v, VendorOpt::Other { vendor_id: VENDOR_3GPP, .. })) {
            return Err(WireError::InvalidValue { what: "3GPP vendor option given as Other", offset: 0 });
        }
        Ok(())
    }
}

fn tail(buf: &mut [u8], pos: usize) -> Result<&mut [u8]> {
    let available = buf.len();
    buf.get_mut(pos..).ok_or(WireError::BufferTooSmall { needed: pos, available })
}
