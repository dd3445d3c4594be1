//! Access Point Name in the Service Selection option.
//!
//! TS 29.275 (Table 5.1.1.1-2, via the Wireshark dissector's comment) carries the APN in the
//! TS 23.003 §9.1 label encoding (length-prefixed labels, no trailing zero), not as the dotted UTF-8 string of
//! RFC 5149. We follow 3GPP (project rule: TS 29.275 first) and reject identifiers that are not valid labels.

use super::error::{Result, WireError};
use std::fmt;
use std::sync::Arc;

/// TS 23.003 §9.1: the encoded APN is at most 100 octets.
pub const APN_MAX_LEN: usize = 100;
const LABEL_MAX_LEN: usize = 63;

/// An APN, stored in its wire (label) encoding; always valid by construction. The bytes are shared: a clone of
/// a configured APN (what every binding of that APN keeps) costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Apn {
    wire: Arc<[u8]>,
}

/// TS 23.003 §9.1 allows only letters, digits and hyphen in a label; this also keeps the dotted form unambiguous.
fn label_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// Checks a label-encoded APN; `base` is the offset of `wire` in the message, for error reporting.
pub(crate) fn validate_wire(wire: &[u8], base: usize) -> Result<()> {
    if wire.is_empty() || wire.len() > APN_MAX_LEN {
        return Err(WireError::InvalidValue { what: "APN length", offset: base });
    }
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        let len = usize::from(len);
        let label = wire.get(pos + 1..pos + 1 + len);
        match label {
            Some(label) if (1..=LABEL_MAX_LEN).contains(&len) && label.iter().all(|&c| label_char_ok(c)) => {}
            _ => return Err(WireError::InvalidValue { what: "APN label", offset: base + pos }),
        }
        pos += 1 + len;
    }
    Ok(())
}

impl Apn {
    /// Wraps a label-encoded APN after validating it.
    pub fn from_wire(wire: &[u8]) -> Result<Self> {
        validate_wire(wire, 0)?;
        Ok(Apn { wire: Arc::from(wire) })
    }

    /// Converts dotted text (`internet`, `ims.mnc001.mcc001.gprs`) to the label encoding.
    pub fn from_dotted(text: &str) -> Result<Self> {
        let mut wire = Vec::with_capacity(text.len() + 1);
        for label in text.split('.') {
            wire.push(label.len().min(255) as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        validate_wire(&wire, 0)?;
        Ok(Apn { wire: Arc::from(wire) })
    }

    /// The label encoding as carried in the option.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// Dotted text form.
    pub fn to_dotted(&self) -> String {
        self.to_string()
    }

    /// Iterates over the labels (each ASCII by construction).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        let mut rest = &self.wire[..];
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (label, tail) = tail.split_at(usize::from(len).min(tail.len()));
            rest = tail;
            std::str::from_utf8(label).ok()
        })
    }
}

impl fmt::Display for Apn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(label)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_matches_vector() {
        // TS 23.003 §9.1 labels, as in vector V1's Service Selection option at offset 68.
        let apn = Apn::from_dotted("internet").unwrap();
        assert_eq!(apn.as_wire(), b"\x08internet");
        assert_eq!(Apn::from_wire(b"\x08internet").unwrap().to_dotted(), "internet");
    }

    #[test]
    fn multi_label_round_trip() {
        let apn = Apn::from_dotted("ims.mnc001.mcc001.gprs").unwrap();
        assert_eq!(apn.as_wire(), b"\x03ims\x06mnc001\x06mcc001\x04gprs");
        assert_eq!(apn.to_dotted(), "ims.mnc001.mcc001.gprs");
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["", ".", "a..b", "a.", "in_ternet", "ä"] {
            assert!(Apn::from_dotted(bad).is_err(), "{bad:?}");
        }
        assert!(Apn::from_dotted(&"a".repeat(64)).is_err());
        // 10 labels of 9 letters encode to exactly 100 octets (allowed); 11 do not fit.
        assert!(Apn::from_dotted(&["abcdefghi"; 10].join(".")).is_ok());
        assert!(Apn::from_dotted(&["abcdefghi"; 11].join(".")).is_err());
        // A dotted RFC 5149 string is not a label encoding.
        assert_eq!(Apn::from_wire(b"internet"), Err(WireError::InvalidValue { what: "APN label", offset: 0 }));
        assert!(Apn::from_wire(b"\x08interne").is_err());
    }
}
