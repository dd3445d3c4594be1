//! Per-worker binding tables and the protocol that keeps them up to date.
//!
//! Each worker owns a [`WorkerTable`]: one 128-byte [`Record`] per slot (what packets read and the binding's
//! counters), found directly by the gateway's own receive keys and through a bucketized hash index otherwise
//! (`worker.rs` says how). The control thread never touches it; it holds an [`UpdateSender`], which validates
//! every change against its replica, a [`BindingTable`] with exact maps, and then sends it to every worker's
//! queue.

mod direct;
mod index;
mod record;
mod update;
mod worker;

pub(crate) use record::{flag, template_len, UeFlags, TEMPLATE_LEN_V4, TEMPLATE_LEN_V6};
pub use record::{Record, Records, TemplateContext};
pub use update::{Epoch, Installed, TableConfig, TableUpdate, UpdateSender};
pub use worker::{home_slot, slot_count, WorkerTable};

use crate::binding::{Binding, BindingError, BindingId, Function};
use hashbrown::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why the tables refuse a change. The control plane reports these (e.g. as a PBA status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("binding table full ({capacity} bindings)")]
    Full { capacity: usize },
    #[error("invalid binding: {0}")]
    Invalid(#[from] BindingError),
    #[error("{0} is already used by binding {1:?}")]
    Conflict(Conflict, BindingId),
    #[error("no binding {0:?}")]
    UnknownBinding(BindingId),
    #[error("binding slot {0:?} is already taken")]
    SlotTaken(BindingId),
    #[error("the update queue of worker {worker} stayed full")]
    QueueFull { worker: usize },
    #[error("not every worker applied epoch {0:?} in time")]
    Timeout(Epoch),
}

/// The lookup key two bindings would share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("uplink GRE key {0:#010x}")]
    UplinkKey(u32),
    #[error("downlink GRE key {key:#010x} towards LMAA {lmaa}")]
    DownlinkKey { lmaa: Ipv6Addr, key: u32 },
    #[error("{0:?} UE IPv4 address {1}")]
    UeIpv4(Function, Ipv4Addr),
    #[error("{0:?} UE IPv6 prefix {1}/64")]
    UePrefix(Function, Ipv6Addr),
}

/// A MAG's downlink lookup key: downlink keys are unique per LMAA (TS 29.275 §6.2). The LMAA is its number in
/// [`Lmaas`], so an entry is 8 bytes rather than 20.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DownlinkKey {
    lmaa: u32,
    key: u32,
}

/// The number of an LMAA no binding has used: matches nothing.
const UNKNOWN_LMAA: u32 = u32::MAX;

/// The LMAAs MAG bindings send to, numbered in order of first use (a gateway has a handful; never shrinks). IPv4
/// LMAAs are stored mapped.
#[derive(Debug, Default)]
struct Lmaas {
    ids: HashMap<[u8; 16], u32>,
    addresses: Vec<[u8; 16]>,
}

impl Lmaas {
    fn id(&self, lmaa: &[u8; 16]) -> u32 {
        self.ids.get(lmaa).copied().unwrap_or(UNKNOWN_LMAA)
    }

    fn intern(&mut self, lmaa: [u8; 16]) {
        if !self.ids.contains_key(&lmaa) {
            self.ids.insert(lmaa, self.addresses.len() as u32);
            self.addresses.push(lmaa);
        }
    }

    fn address(&self, id: u32) -> [u8; 16] {
        self.addresses.get(id as usize).copied().unwrap_or_default()
    }
}

/// Every map entry a binding owns.
#[derive(Clone, Copy, Debug)]
enum TableKey {
    LmaUplink(u32),
    MagDownlink(DownlinkKey),
    UeIpv4(Function, u32),
    UePrefix(Function, u64),
}

impl TableKey {
    fn for_binding(binding: &Binding, lmaas: &Lmaas) -> [Option<TableKey>; 3] {
        let function = binding.function;
        let tunnel_key = match function {
            Function::Lma => binding.uplink_key.map(TableKey::LmaUplink),
            Function::Mag => binding.downlink_key.map(|key| {
                TableKey::MagDownlink(DownlinkKey { lmaa: lmaas.id(&binding.tunnel.lmaa(function).octets()), key })
            }),
        };
        [
            tunnel_key,
            binding.ue_ipv4.map(|ip| TableKey::UeIpv4(function, u32::from(ip))),
            binding.ue_prefix64().map(|prefix| TableKey::UePrefix(function, prefix)),
        ]
    }

    fn conflict(self, lmaas: &Lmaas) -> Conflict {
        match self {
            TableKey::LmaUplink(key) => Conflict::UplinkKey(key),
            TableKey::MagDownlink(DownlinkKey { lmaa, key }) => {
                Conflict::DownlinkKey { lmaa: lmaas.address(lmaa).into(), key }
            }
            TableKey::UeIpv4(function, ip) => Conflict::UeIpv4(function, ip.into()),
            TableKey::UePrefix(function, prefix) => Conflict::UePrefix(function, (u128::from(prefix) << 64).into()),
        }
    }
}

/// UE address → binding, for one function.
#[derive(Debug)]
struct UeIndex {
    ipv4: HashMap<u32, BindingId>,
    prefix64: HashMap<u64, BindingId>,
}

impl UeIndex {
    fn new(capacity: usize) -> Self {
        UeIndex { ipv4: preallocated(capacity), prefix64: preallocated(capacity) }
    }
}

/// A map that holds `capacity` entries without ever growing. hashbrown grows (allocating) rather than rehashing in
/// place once its items exceed half its raw capacity and erase tombstones have used up the rest; sizing for
/// twice the entries keeps it in the never-grow regime at any churn.
fn preallocated<K, V>(capacity: usize) -> HashMap<K, V> {
    HashMap::with_capacity(capacity.saturating_mul(2))
}

/// The control side's copy of every binding, indexed every way the fast path looks them up, with exact keys: where
/// conflicts are refused before an update reaches a worker.
#[derive(Debug)]
pub struct BindingTable {
    capacity: usize,
    /// By slot ([`slot_count`] of them); grows within its preallocation.
    slots: Vec<Option<Binding>>,
    len: usize,
    lma_uplink: HashMap<u32, BindingId>,
    mag_downlink: HashMap<DownlinkKey, BindingId>,
    lmaas: Lmaas,
    lma_ue: UeIndex,
    mag_ue: UeIndex,
}

impl BindingTable {
    /// An empty table for up to `capacity` bindings. Maps reserve their memory now; pages are touched as they
    /// fill.
    pub fn new(capacity: usize) -> Self {
        BindingTable {
            capacity,
            slots: Vec::with_capacity(slot_count(capacity)),
            len: 0,
            lma_uplink: preallocated(capacity),
            mag_downlink: preallocated(capacity),
            lmaas: Lmaas::default(),
            lma_ue: UeIndex::new(capacity),
            mag_ue: UeIndex::new(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, id: BindingId) -> Option<&Binding> {
        self.slots.get(id.index()).and_then(Option::as_ref)
    }
    /// Every binding with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (BindingId, &Binding)> {
        self.slots.iter().enumerate().filter_map(|(i, slot)| slot.as_ref().map(|b| (BindingId(i as u32), b)))
    }

    /// LMA uplink: the uplink key alone identifies the PDN connection (TS 29.275 §6.3).
    #[inline]
    pub fn lma_by_uplink_key(&self, key: u32) -> Option<(BindingId, &Binding)> {
        self.resolve(self.lma_uplink.get(&key))
    }
    /// MAG downlink: (LMAA, downlink key), the LMAA in IPv6 or IPv4-mapped form.
    #[inline]
    pub fn mag_by_downlink_key(&self, lmaa: [u8; 16], key: u32) -> Option<(BindingId, &Binding)> {
        self.resolve(self.mag_downlink.get(&DownlinkKey { lmaa: self.lmaas.id(&lmaa), key }))
    }
    /// The binding of `function` whose UE IPv4 home address is `address`.
    #[inline]
    pub fn by_ue_ipv4(&self, function: Function, address: u32) -> Option<(BindingId, &Binding)> {
        self.resolve(self.ue_index(function).ipv4.get(&address))
    }
    /// The binding of `function` whose UE /64 prefix is `prefix64` (the address's upper 64 bits).
    #[inline]
    pub fn by_ue_prefix64(&self, function: Function, prefix64: u64) -> Option<(BindingId, &Binding)> {
        self.resolve(self.ue_index(function).prefix64.get(&prefix64))
    }

    #[inline]
    fn resolve(&self, id: Option<&BindingId>) -> Option<(BindingId, &Binding)> {
        let id = *id?;
        self.get(id).map(|binding| (id, binding))
    }

    fn ue_index(&self, function: Function) -> &UeIndex {
        match function {
            Function::Lma => &self.lma_ue,
            Function::Mag => &self.mag_ue,
        }
    }

    /// Puts a new binding into a free slot.
    pub fn insert(&mut self, id: BindingId, binding: Binding) -> Result<(), TableError> {
        binding.validate()?;
        if self.get(id).is_some() {
            return Err(TableError::SlotTaken(id));
        }
        if self.len >= self.capacity || id.index() >= slot_count(self.capacity) {
            return Err(TableError::Full { capacity: self.capacity });
        }
        self.check_conflicts(&binding, id)?;
        self.index(&binding, id);
        if self.slots.len() <= id.index() {
            self.slots.resize(id.index() + 1, None);
        }
        if let Some(slot) = self.slots.get_mut(id.index()) {
            *slot = Some(binding);
        }
        self.len += 1;
        Ok(())
    }

    /// Replaces the binding in an occupied slot (a handover or a key arriving), returning the old one.
    pub fn replace(&mut self, id: BindingId, binding: Binding) -> Result<Binding, TableError> {
        binding.validate()?;
        let old = *self.get(id).ok_or(TableError::UnknownBinding(id))?;
        self.check_conflicts(&binding, id)?;
        self.unindex(&old);
        self.index(&binding, id);
        if let Some(slot) = self.slots.get_mut(id.index()) {
            *slot = Some(binding);
        }
        Ok(old)
    }

    /// Frees a slot, returning its binding.
    pub fn remove(&mut self, id: BindingId) -> Result<Binding, TableError> {
        let old = self.slots.get_mut(id.index()).and_then(Option::take).ok_or(TableError::UnknownBinding(id))?;
        self.unindex(&old);
        self.len -= 1;
        Ok(old)
    }

    fn check_conflicts(&self, binding: &Binding, id: BindingId) -> Result<(), TableError> {
        for key in TableKey::for_binding(binding, &self.lmaas).into_iter().flatten() {
            match self.lookup(key) {
                Some(owner) if owner != id => return Err(TableError::Conflict(key.conflict(&self.lmaas), owner)),
                _ => {}
            }
        }
        Ok(())
    }

    fn lookup(&self, key: TableKey) -> Option<BindingId> {
        match key {
            TableKey::LmaUplink(k) => self.lma_uplink.get(&k),
            TableKey::MagDownlink(k) => self.mag_downlink.get(&k),
            TableKey::UeIpv4(function, ip) => self.ue_index(function).ipv4.get(&ip),
            TableKey::UePrefix(function, prefix) => self.ue_index(function).prefix64.get(&prefix),
        }
        .copied()
    }

    fn index(&mut self, binding: &Binding, id: BindingId) {
        if binding.function == Function::Mag {
            self.lmaas.intern(binding.tunnel.lmaa(Function::Mag).octets());
        }
        for key in TableKey::for_binding(binding, &self.lmaas).into_iter().flatten() {
            match key {
                TableKey::LmaUplink(k) => self.lma_uplink.insert(k, id),
                TableKey::MagDownlink(k) => self.mag_downlink.insert(k, id),
                TableKey::UeIpv4(function, ip) => self.ue_index_mut(function).ipv4.insert(ip, id),
                TableKey::UePrefix(function, prefix) => self.ue_index_mut(function).prefix64.insert(prefix, id),
            };
        }
    }

    fn unindex(&mut self, binding: &Binding) {
        for key in TableKey::for_binding(binding, &self.lmaas).into_iter().flatten() {
            match key {
                TableKey::LmaUplink(k) => self.lma_uplink.remove(&k),
                TableKey::MagDownlink(k) => self.mag_downlink.remove(&k),
                TableKey::UeIpv4(function, ip) => self.ue_index_mut(function).ipv4.remove(&ip),
                TableKey::UePrefix(function, prefix) => self.ue_index_mut(function).prefix64.remove(&prefix),
            };
        }
    }

    fn ue_index_mut(&mut self, function: Function) -> &mut UeIndex {
        match function {
            Function::Lma => &mut self.lma_ue,
            Function::Mag => &mut self.mag_ue,
        }
    }
}

#[cfg(test)]
mod tests;

/// Records for tests of other modules.
#[cfg(test)]
pub(crate) mod record_for_tests {
    use super::record::Records;
    use crate::binding::Way;
    use std::sync::Arc;

    pub fn records(slots: usize) -> Arc<Records> {
        Arc::new(Records::new(slots))
    }

    /// Adds one downlink packet of `bytes` to `slot`.
    pub fn count(records: &Records, slot: u32, bytes: u64) {
        records.get(slot).unwrap().count(Way::Downlink, 1, bytes);
    }
}
