//! The identity of a PDN connection, shared by the LMA (one BCE each) and the MAG (one BULE each).
//!
//! TS 29.275 §6.1: "unique BCE and BULE entries for each PDN connection"; several PDN connections of one UE differ
//! by APN, or by PDN Connection ID for several connections to one APN (TS 29.275 §5.1.1). RFC 5213 §5.4.1 keys a
//! mobility session by (MN-ID, ATT, LL-ID) instead; in the 3GPP profile the APN and PDN Connection ID are what
//! tell sessions apart, so they form the key here and ATT / LL-ID only take part in the handover decision.

use crate::wire::{Apn, MhOptions, MnId, ThreeGppIe, VendorOpt};
use std::fmt;

/// MN-ID, APN and optional PDN Connection ID of one PDN connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PdnIdent {
    pub mn_id: MnId,
    pub apn: Apn,
    pub pdn_connection_id: Option<u8>,
}

impl PdnIdent {
    pub fn new(mn_id: MnId, apn: Apn, pdn_connection_id: Option<u8>) -> Self {
        PdnIdent { mn_id, apn, pdn_connection_id }
    }
}

/// Human form of an MN-ID: the NAI, or `subtype:hex`.
pub fn mn_id_text(mn_id: &MnId) -> String {
    match mn_id {
        MnId::Nai(s) => s.clone(),
        MnId::Other { subtype, id } => {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            format!("{subtype}:{hex}")
        }
    }
}

impl fmt::Display for PdnIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} apn {}", mn_id_text(&self.mn_id), self.apn)?;
        if let Some(id) = self.pdn_connection_id {
            write!(f, " pdn-connection-id {id}")?;
        }
        Ok(())
    }
}

/// The 3GPP PDN Connection ID (vendor option sub-type 17) among a message's options.
pub fn pdn_connection_id(options: &MhOptions) -> Option<u8> {
    options.vendor.iter().find_map(|v| match v {
        VendorOpt::ThreeGpp { ie: ThreeGppIe::PdnConnectionId(id), more: false } => Some(*id),
        _ => None,
    })
}

/// The vendor option that carries a PDN Connection ID.
pub fn pdn_connection_id_option(id: u8) -> VendorOpt {
    VendorOpt::three_gpp(ThreeGppIe::PdnConnectionId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_and_displays() {
        let p = PdnIdent::new(MnId::Nai("001@nai".into()), Apn::from_dotted("ims.op").unwrap(), Some(5));
        assert_eq!(p.to_string(), "001@nai apn ims.op pdn-connection-id 5");
        let other = MnId::Other { subtype: 3, id: vec![0x21, 0x43] };
        assert_eq!(mn_id_text(&other), "3:2143");
    }

    #[test]
    fn pdn_connection_id_is_read_from_the_3gpp_option() {
        let mut o = MhOptions::default();
        assert_eq!(pdn_connection_id(&o), None);
        o.vendor.push(VendorOpt::three_gpp(ThreeGppIe::ChargingId(7)));
        o.vendor.push(pdn_connection_id_option(9));
        assert_eq!(pdn_connection_id(&o), Some(9));
    }
}
