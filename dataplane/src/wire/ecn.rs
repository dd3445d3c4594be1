//! ECN across the tunnel: RFC 5213 §5.6.3 (and RFC 5844 §4.1.4.2) require the full-functionality option of
//! RFC 3168 §9.1.1 on encapsulation; decapsulation follows RFC 6040 §4.2, which updates it.

pub const NOT_ECT: u8 = 0b00;
pub const ECT1: u8 = 0b01;
pub const ECT0: u8 = 0b10;
pub const CE: u8 = 0b11;

/// The outer ECN field for an inner one: ECT(0)/ECT(1) are copied, Not-ECT stays Not-ECT, and CE becomes ECT(0)
/// (RFC 3168 §9.1.1: the outer header must not carry a mark the inner one already has).
pub fn on_encapsulation(inner: u8) -> u8 {
    match inner & 0x03 {
        CE => ECT0,
        other => other,
    }
}

/// The inner ECN field after decapsulation, or `None` when the packet must be dropped: RFC 6040 §4.2, which
/// updates the RFC 3168 rules RFC 5213 §5.6.3 invokes, and which RFC 9601 applies to GRE. CE on the outer header
/// reaches an ECN-capable inner packet; ECT(1) on the outer header reaches an ECT(0) inner one; CE over a Not-ECT
/// inner packet is a congestion mark that packet cannot carry, so it is dropped; anything else leaves the inner
/// field unchanged.
#[inline(always)]
pub fn on_decapsulation(outer: u8, inner: u8) -> Option<u8> {
    const DROP: u8 = 0xff;
    // Indexed by inner (rows) and outer (columns) field, both in the order Not-ECT, ECT(1), ECT(0), CE.
    #[rustfmt::skip]
    const TABLE: [u8; 16] = [
        NOT_ECT, NOT_ECT, NOT_ECT, DROP, // inner Not-ECT
        ECT1, ECT1, ECT1, CE, // inner ECT(1)
        ECT0, ECT1, ECT0, CE, // inner ECT(0)
        CE, CE, CE, CE, // inner CE
    ];
    let value = TABLE[usize::from(((inner & 0x03) << 2) | (outer & 0x03))];
    (value != DROP).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encapsulation_copies_ect_and_never_copies_ce() {
        assert_eq!(on_encapsulation(NOT_ECT), NOT_ECT);
        assert_eq!(on_encapsulation(ECT0), ECT0);
        assert_eq!(on_encapsulation(ECT1), ECT1);
        assert_eq!(on_encapsulation(CE), ECT0);
    }

    #[test]
    fn decapsulation_follows_the_rfc_6040_table() {
        // RFC 6040 §4.2, Figure 4, row by row (inner), column by column (outer: Not-ECT, ECT(0), ECT(1), CE).
        let rows = [
            (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
            (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
            (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        for (inner, expected) in rows {
            for (outer, want) in [NOT_ECT, ECT0, ECT1, CE].into_iter().zip(expected) {
                assert_eq!(on_decapsulation(outer, inner), want, "outer {outer:02b} inner {inner:02b}");
                // The DSCP bits around the field are ignored.
                assert_eq!(on_decapsulation(outer | 0xb8, inner | 0x4c), want);
            }
        }
    }
}
