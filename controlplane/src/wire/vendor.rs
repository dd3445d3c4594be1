//! Vendor-Specific Mobility Option (type 19, RFC 5094) and the 3GPP sub-options of TS 29.282 / TS 29.275 §12.1.1
//! that the gateway uses.
//!
//! Layout after the option's Type/Length: `Vendor ID (4) | Sub-Type (1) | Data`. For vendor 10415 (3GPP) the first
//! data octet is `Reserved (7 bits) | M (1 bit, LSB)`, M marking a fragment of an IE too long for one option.
//! M-flag reassembly rules are not verified against TS 29.282 (the flag is as Wireshark's packet-mip6.c labels
//! it, "data fragment"): we keep the flag, decode only complete IEs (M = 0) and keep fragments raw, so nothing
//! is lost or guessed.

use super::error::{Result, WireError};
use super::field;
use super::option::OPT_VENDOR;

/// IANA Private Enterprise Number of 3GPP.
pub const VENDOR_3GPP: u32 = 10415;

/// 3GPP sub-type numbers (TS 29.282) the codec decodes.
pub mod subtype {
    /// 3GPP Specific PMIPv6 Error Code (1 octet).
    pub const ERROR_CODE: u8 = 2;
    /// PMIPv6 PDN type indication (PDN type, cause).
    pub const PDN_TYPE_INDICATION: u8 = 6;
    /// Charging ID (4 octets).
    pub const CHARGING_ID: u8 = 7;
    /// PDN Connection ID (1 octet).
    pub const PDN_CONNECTION_ID: u8 = 17;
}

/// A 3GPP sub-option value. Sub-types we do not interpret, and any fragment (M = 1), are `Raw`.
/// `D` is the storage of raw data: `&[u8]` when borrowed from a packet, `Vec<u8>` when owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThreeGppIe<D = Vec<u8>> {
    /// Sub-type 2: cause value sharing GTPv2 numbering (TS 29.274 §8.4, 220–255 PMIPv6-specific).
    ErrorCode(u8),
    /// Sub-type 6: PDN type (1 IPv4, 2 IPv6, 3 IPv4v6 — code points assumed to match GTPv2's PDN Type, not
    /// verified against TS 29.275 §12.1.1.3) and a GTPv2 cause explaining why it differs from the request
    /// (e.g. 18, 19).
    PdnTypeIndication {
        /// PDN type code point (see [`pdn_type`]).
        pdn_type: u8,
        /// GTPv2 cause value.
        cause: u8,
    },
    /// Sub-type 7: charging ID assigned by the PGW.
    ChargingId(u32),
    /// Sub-type 17: PDN connection identity for several PDN connections to one APN.
    PdnConnectionId(u8),
    /// Any other sub-type (or a fragment): data after the flags octet, as received.
    Raw {
        /// TS 29.282 sub-type number.
        sub_type: u8,
        /// Data after the Reserved/M octet.
        data: D,
    },
}

impl<D: AsRef<[u8]>> ThreeGppIe<D> {
    /// TS 29.282 sub-type number.
    pub fn sub_type(&self) -> u8 {
        match self {
            ThreeGppIe::ErrorCode(_) => subtype::ERROR_CODE,
            ThreeGppIe::PdnTypeIndication { .. } => subtype::PDN_TYPE_INDICATION,
            ThreeGppIe::ChargingId(_) => subtype::CHARGING_ID,
            ThreeGppIe::PdnConnectionId(_) => subtype::PDN_CONNECTION_ID,
            ThreeGppIe::Raw { sub_type, .. } => *sub_type,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            ThreeGppIe::ErrorCode(_) | ThreeGppIe::PdnConnectionId(_) => 1,
            ThreeGppIe::PdnTypeIndication { .. } => 2,
            ThreeGppIe::ChargingId(_) => 4,
            ThreeGppIe::Raw { data, .. } => data.as_ref().len(),
        }
    }

    /// Same value with owned storage.
    pub fn into_owned(self) -> ThreeGppIe {
        match self {
            ThreeGppIe::ErrorCode(v) => ThreeGppIe::ErrorCode(v),
            ThreeGppIe::PdnTypeIndication { pdn_type, cause } => ThreeGppIe::PdnTypeIndication { pdn_type, cause },
            ThreeGppIe::ChargingId(v) => ThreeGppIe::ChargingId(v),
            ThreeGppIe::PdnConnectionId(v) => ThreeGppIe::PdnConnectionId(v),
            ThreeGppIe::Raw { sub_type, data } => ThreeGppIe::Raw { sub_type, data: data.as_ref().to_vec() },
        }
    }

    /// Same value borrowing this one's storage.
    pub fn as_borrowed(&self) -> ThreeGppIe<&[u8]> {
        match self {
            ThreeGppIe::ErrorCode(v) => ThreeGppIe::ErrorCode(*v),
            ThreeGppIe::PdnTypeIndication { pdn_type, cause } => {
                ThreeGppIe::PdnTypeIndication { pdn_type: *pdn_type, cause: *cause }
            }
            ThreeGppIe::ChargingId(v) => ThreeGppIe::ChargingId(*v),
            ThreeGppIe::PdnConnectionId(v) => ThreeGppIe::PdnConnectionId(*v),
            ThreeGppIe::Raw { sub_type, data } => ThreeGppIe::Raw { sub_type: *sub_type, data: data.as_ref() },
        }
    }
}

/// PDN type code points used in `ThreeGppIe::PdnTypeIndication` (GTPv2 PDN Type values).
pub mod pdn_type {
    /// 1: IPv4.
    pub const IPV4: u8 = 1;
    /// 2: IPv6.
    pub const IPV6: u8 = 2;
    /// 3: IPv4v6.
    pub const IPV4V6: u8 = 3;
}

/// One Vendor-Specific Mobility Option (repeatable, RFC 5094 §3). `D` as for [`ThreeGppIe`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VendorOpt<D = Vec<u8>> {
    /// Vendor 10415. `more` is the M flag; typed IEs are always complete, so a typed `ie` with `more = true`
    /// is emitted as given but parses back as `Raw`.
    ThreeGpp {
        /// The sub-option.
        ie: ThreeGppIe<D>,
        /// M flag: this option holds a fragment and more follow.
        more: bool,
    },
    /// Any other vendor: sub-type and data kept verbatim.
    Other {
        /// IANA Private Enterprise Number.
        vendor_id: u32,
        /// Vendor-defined sub-type.
        sub_type: u8,
        /// Data after the sub-type.
        data: D,
    },
}

impl VendorOpt {
    /// A complete (M = 0) 3GPP sub-option.
    pub fn three_gpp(ie: ThreeGppIe) -> Self {
        VendorOpt::ThreeGpp { ie, more: false }
    }
}

impl<'a> VendorOpt<&'a [u8]> {
    /// Decodes the option data (everything after Type/Length) without copying. `offset` is where the option's
    /// Type octet sits, for error reporting.
    pub fn parse(data: &'a [u8], offset: usize) -> Result<Self> {
        let bad_len = || WireError::BadOptionLength { option_type: OPT_VENDOR, length: data.len() as u8, offset };
        let rest = data.get(5..).ok_or_else(bad_len)?;
        let vendor_id = field::u32_at(data, 0, offset + 2, "vendor ID")?;
        let sub_type = field::u8_at(data, 4, offset + 2, "vendor sub-type")?;
        if vendor_id != VENDOR_3GPP {
            return Ok(VendorOpt::Other { vendor_id, sub_type, data: rest });
        }
        let (&flags, value) = rest.split_first().ok_or_else(bad_len)?;
        let more = flags & 0x01 != 0;
        let ie = match (more, sub_type, value) {
            (false, subtype::ERROR_CODE, &[v]) => ThreeGppIe::ErrorCode(v),
            (false, subtype::PDN_TYPE_INDICATION, &[pdn_type, cause]) => {
                ThreeGppIe::PdnTypeIndication { pdn_type, cause }
            }
            (false, subtype::CHARGING_ID, &[a, b, c, d]) => ThreeGppIe::ChargingId(u32::from_be_bytes([a, b, c, d])),
            (false, subtype::PDN_CONNECTION_ID, &[v]) => ThreeGppIe::PdnConnectionId(v),
            (false, subtype::ERROR_CODE | subtype::PDN_TYPE_INDICATION | subtype::CHARGING_ID, _)
            | (false, subtype::PDN_CONNECTION_ID, _) => return Err(bad_len()),
            _ => ThreeGppIe::Raw { sub_type, data: value },
        };
        Ok(VendorOpt::ThreeGpp { ie, more })
    }
}

impl<D: AsRef<[u8]>> VendorOpt<D> {
    /// Same option with owned storage.
    pub fn into_owned(self) -> VendorOpt {
        match self {
            VendorOpt::ThreeGpp { ie, more } => VendorOpt::ThreeGpp { ie: ie.into_owned(), more },
            VendorOpt::Other { vendor_id, sub_type, data } => {
                VendorOpt::Other { vendor_id, sub_type, data: data.as_ref().to_vec() }
            }
        }
    }

    /// Same option borrowing this one's storage.
    pub fn as_borrowed(&self) -> VendorOpt<&[u8]> {
        match self {
            VendorOpt::ThreeGpp { ie, more } => VendorOpt::ThreeGpp { ie: ie.as_borrowed(), more: *more },
            VendorOpt::Other { vendor_id, sub_type, data } => {
                VendorOpt::Other { vendor_id: *vendor_id, sub_type: *sub_type, data: data.as_ref() }
            }
        }
    }

    /// The IANA enterprise number.
    pub fn vendor_id(&self) -> u32 {
        match self {
            VendorOpt::ThreeGpp { .. } => VENDOR_3GPP,
            VendorOpt::Other { vendor_id, .. } => *vendor_id,
        }
    }

    /// Length of the option data (the value of the Length octet).
    pub fn data_len(&self) -> usize {
        match self {
            VendorOpt::ThreeGpp { ie, .. } => 4 + 1 + 1 + ie.value_len(),
            VendorOpt::Other { data, .. } => 4 + 1 + data.as_ref().len(),
        }
    }

    /// Writes the option data into `out`, which is exactly `data_len()` octets.
    pub(crate) fn write_data(&self, out: &mut [u8]) -> Result<()> {
        field::put(out, 0, &self.vendor_id().to_be_bytes())?;
        match self {
            VendorOpt::Other { sub_type, data, .. } => {
                field::put(out, 4, &[*sub_type])?;
                field::put(out, 5, data.as_ref())
            }
            VendorOpt::ThreeGpp { ie, more } => {
                field::put(out, 4, &[ie.sub_type(), u8::from(*more)])?;
                match ie {
                    ThreeGppIe::ErrorCode(v) | ThreeGppIe::PdnConnectionId(v) => field::put(out, 6, &[*v]),
                    ThreeGppIe::PdnTypeIndication { pdn_type, cause } => field::put(out, 6, &[*pdn_type, *cause]),
                    ThreeGppIe::ChargingId(v) => field::put(out, 6, &v.to_be_bytes()),
                    ThreeGppIe::Raw { data, .. } => field::put(out, 6, data.as_ref()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charging_id_from_vector_v2() {
        // V2 option at MH offset 134: 13 0a | 00 00 28 af | 07 | 00 | 01 02 03 04
        let data = [0x00, 0x00, 0x28, 0xaf, 0x07, 0x00, 0x01, 0x02, 0x03, 0x04];
        let v = VendorOpt::parse(&data, 134).unwrap().into_owned();
        assert_eq!(v, VendorOpt::three_gpp(ThreeGppIe::ChargingId(0x0102_0304)));
        let mut out = [0u8; 10];
        assert_eq!(v.data_len(), 10);
        v.write_data(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn fragment_and_unknown_stay_raw() {
        let frag = [0x00, 0x00, 0x28, 0xaf, 0x07, 0x01, 0x01, 0x02];
        assert_eq!(
            VendorOpt::parse(&frag, 0).unwrap().into_owned(),
            VendorOpt::ThreeGpp { ie: ThreeGppIe::Raw { sub_type: 7, data: vec![1, 2] }, more: true }
        );
        let other = [0x00, 0x00, 0x00, 0x09, 0x42, 0xaa];
        assert_eq!(
            VendorOpt::parse(&other, 0).unwrap().into_owned(),
            VendorOpt::Other { vendor_id: 9, sub_type: 0x42, data: vec![0xaa] }
        );
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let short_cid = [0x00, 0x00, 0x28, 0xaf, 0x07, 0x00, 0x01, 0x02, 0x03];
        assert!(matches!(VendorOpt::parse(&short_cid, 40), Err(WireError::BadOptionLength { offset: 40, .. })));
        assert!(VendorOpt::parse(&[0, 0, 0x28], 0).is_err());
        // 3GPP option without the flags octet.
        assert!(VendorOpt::parse(&[0x00, 0x00, 0x28, 0xaf, 0x07], 0).is_err());
    }
}
