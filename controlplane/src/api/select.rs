//! Which bindings a [`Selector`] names: the same rules for `bindings`, `binding revoke` on an LMA and on a MAG.

use super::types::Selector;
use crate::fastpath::TunnelId;
use crate::session::PdnIdent;
use crate::wire::{Apn, MnId};

/// A checked [`Selector`].
#[derive(Debug, Clone)]
pub struct Matcher {
    mn_id: Option<MnId>,
    apn: Option<Apn>,
    pdn_connection_id: Option<u8>,
    key: Option<u32>,
    text: String,
}

impl Matcher {
    /// Checks the selector (the APN must be a valid name).
    pub fn new(s: &Selector) -> Result<Self, String> {
        let apn = s.apn.as_deref().map(Apn::from_dotted).transpose().map_err(|e| format!("apn: {e}"))?;
        let mut parts = Vec::new();
        if let Some(m) = &s.mn_id {
            parts.push(format!("mn-id {m}"));
        }
        if let Some(a) = &s.apn {
            parts.push(format!("apn {a}"));
        }
        if let Some(p) = s.pdn_connection_id {
            parts.push(format!("pdn-connection-id {p}"));
        }
        if let Some(k) = s.key {
            parts.push(format!("key {k:#010x}"));
        }
        Ok(Matcher {
            mn_id: s.mn_id.clone().map(MnId::Nai),
            apn,
            pdn_connection_id: s.pdn_connection_id,
            key: s.key,
            text: parts.join(", "),
        })
    }

    /// The MN-ID it asks for, to narrow the candidates by an index.
    pub fn mn_id(&self) -> Option<&MnId> {
        self.mn_id.as_ref()
    }

    /// Does a binding of `pdn` holding `keys` (uplink, downlink) match?
    pub fn matches(&self, pdn: &PdnIdent, keys: [Option<u32>; 2]) -> bool {
        self.mn_id.as_ref().is_none_or(|m| &pdn.mn_id == m)
            && self.apn.as_ref().is_none_or(|a| &pdn.apn == a)
            && self.pdn_connection_id.is_none_or(|p| pdn.pdn_connection_id == Some(p))
            && self.key.is_none_or(|k| keys.contains(&Some(k)))
    }

    /// The ids among `candidates` that match; an error if the selector names something and nothing matches.
    pub fn select<'a>(
        &self,
        candidates: impl Iterator<Item = (TunnelId, &'a PdnIdent, [Option<u32>; 2])>,
    ) -> Result<Vec<TunnelId>, String> {
        let ids: Vec<TunnelId> =
            candidates.filter(|(_, pdn, keys)| self.matches(pdn, *keys)).map(|(id, _, _)| id).collect();
        if ids.is_empty() && !self.text.is_empty() {
            return Err(format!("no binding matches {}", self.text));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdn(mn: &str, apn: &str, id: Option<u8>) -> PdnIdent {
        PdnIdent::new(MnId::Nai(mn.into()), Apn::from_dotted(apn).unwrap(), id)
    }

    #[test]
    fn narrows_by_each_field_and_reports_no_match() {
        let items = [
            (TunnelId(1), pdn("a@x", "internet", None), [Some(10), Some(11)]),
            (TunnelId(2), pdn("a@x", "ims", None), [Some(20), Some(21)]),
            (TunnelId(3), pdn("b@x", "internet", Some(5)), [Some(30), None]),
        ];
        let run = |s: Selector| Matcher::new(&s).and_then(|m| m.select(items.iter().map(|(i, p, k)| (*i, p, *k))));
        assert_eq!(run(Selector::default()).unwrap().len(), 3);
        assert_eq!(
            run(Selector { mn_id: Some("a@x".into()), ..Default::default() }).unwrap(),
            [TunnelId(1), TunnelId(2)]
        );
        let ims = Selector { mn_id: Some("a@x".into()), apn: Some("ims".into()), ..Default::default() };
        assert_eq!(run(ims).unwrap(), [TunnelId(2)]);
        assert_eq!(run(Selector { key: Some(11), ..Default::default() }).unwrap(), [TunnelId(1)]);
        assert_eq!(run(Selector { pdn_connection_id: Some(5), ..Default::default() }).unwrap(), [TunnelId(3)]);
        let none = Selector { mn_id: Some("c@x".into()), key: Some(1), ..Default::default() };
        assert_eq!(run(none).unwrap_err(), "no binding matches mn-id c@x, key 0x00000001");
        assert!(run(Selector { apn: Some("bad_apn".into()), ..Default::default() }).unwrap_err().starts_with("apn:"));
    }
}
