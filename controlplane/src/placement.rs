//! Where a gateway's own keys and addresses sit: which instance of a cluster and which of its workers own them.
//!
//! The gateway chooses its receive keys — the LMA its uplink keys (TS 29.275 §6.3), the MAG its downlink keys
//! (§6.2) — so a key can say who owns the binding:
//!
//! ```text
//!  31                                                    0
//! +----------------+-------------------------+-----------+
//! | instance (I)   | count                   | worker (W)|
//! +----------------+-------------------------+-----------+
//! ```
//!
//! * **instance**, the top `I = ceil(log2(instances))` bits: this gateway's number in its cluster. Instances of
//!   one cluster therefore never hand out the same key, and a load balancer or the NIC can tell them apart.
//! * **worker**, the low `W` bits: the worker that owns the binding. A NIC steers a GRE packet to that worker's
//!   queue by the masked key (`rte_flow` GRE_KEY), so the tunnels between one MAG and one LMA — which share outer
//!   addresses and therefore one RSS queue — spread over the workers. The low bits are also the direct table's
//!   home slot, so keys of different workers never share one.
//! * **count**: what the allocator of each worker field hands out, reusing released values first.
//!
//! The pools of home addresses are split the same way between instances: instance `i` of `n` takes the `i`-th
//! of `n` equal contiguous parts of every pool, so instances given one configuration hand out disjoint
//! addresses.

/// This gateway's place in its cluster and the workers its keys name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// This instance's number, `0..instances`.
    pub instance: u32,
    /// Instances in the cluster (1: a gateway on its own).
    pub instances: u32,
    /// Bits of a key that name the owning worker.
    pub worker_bits: u8,
    /// Workers that own keys: worker fields `0..workers` are handed out (`workers <= 2^worker_bits`).
    pub workers: u32,
}

impl Default for Placement {
    fn default() -> Self {
        Placement { instance: 0, instances: 1, worker_bits: 0, workers: 1 }
    }
}

/// Why a placement does not fit a 32-bit key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("instance {instance} must be below cluster.instances ({instances})")]
    Instance { instance: u32, instances: u32 },
    #[error("{bits} worker bits cannot name {workers} workers")]
    WorkerBits { bits: u8, workers: u32 },
    #[error(
        "{instance} instance bits and {worker} worker bits leave fewer than {} bits of a key to count with",
        32 - MAX_FIELD_BITS
    )]
    FieldBits { instance: u8, worker: u8 },
}

impl PlacementError {
    /// The `[cluster]` setting at fault.
    pub fn setting(&self) -> &'static str {
        match self {
            PlacementError::Instance { .. } => "instance",
            PlacementError::WorkerBits { .. } => "worker_bits",
            PlacementError::FieldBits { .. } => "instances",
        }
    }
}

/// At most this many bits of a key name the instance and the worker together: the count keeps at least 16.
pub const MAX_FIELD_BITS: u8 = 16;

/// Bits needed to number `n` things (0 for one).
pub fn bits_for(n: u32) -> u8 {
    (32 - n.max(1).saturating_sub(1).leading_zeros()) as u8
}

impl Placement {
    /// A placement for `workers` workers with as many worker bits as they need.
    pub fn for_workers(workers: u32) -> Placement {
        let workers = workers.max(1);
        Placement { worker_bits: bits_for(workers), workers, ..Placement::default() }
    }

    /// Checks the fields fit: the error says which and why.
    pub fn check(&self) -> Result<(), PlacementError> {
        if self.instances == 0 || self.instance >= self.instances {
            return Err(PlacementError::Instance { instance: self.instance, instances: self.instances });
        }
        if self.worker_bits > MAX_FIELD_BITS || self.workers == 0 || u64::from(self.workers) > 1u64 << self.worker_bits
        {
            return Err(PlacementError::WorkerBits { bits: self.worker_bits, workers: self.workers });
        }
        if self.instance_bits() + self.worker_bits > MAX_FIELD_BITS {
            return Err(PlacementError::FieldBits { instance: self.instance_bits(), worker: self.worker_bits });
        }
        Ok(())
    }

    /// Bits of a key that name the instance.
    pub fn instance_bits(&self) -> u8 {
        bits_for(self.instances)
    }

    /// The worker field of `key`.
    pub fn worker_of(&self, key: u32) -> u32 {
        key & self.worker_mask()
    }

    /// The mask of the worker field.
    pub fn worker_mask(&self) -> u32 {
        ((1u64 << self.worker_bits) - 1) as u32
    }

    /// The instance field of `key`.
    pub fn instance_of(&self, key: u32) -> u32 {
        match self.instance_bits() {
            0 => 0,
            bits => key >> (32 - bits),
        }
    }

    /// The keys of this instance: its block of the key space, inclusive.
    pub fn instance_keys(&self) -> (u32, u32) {
        match self.instance_bits() {
            0 => (0, u32::MAX),
            bits => {
                let shift = 32 - bits;
                let first = self.instance << shift;
                (first, first | ((1u32 << shift) - 1))
            }
        }
    }

    /// This instance's part of `first..=last` (pool indexes): the `instance`-th of `instances` equal contiguous
    /// parts; `None` when the range has fewer values than instances and this one gets none.
    pub fn share(&self, first: u32, last: u32) -> Option<(u32, u32)> {
        let size = (u64::from(last) + 1).saturating_sub(u64::from(first));
        let n = u64::from(self.instances.max(1));
        let i = u64::from(self.instance);
        let lo = u64::from(first) + size * i / n;
        let end = u64::from(first) + size * (i + 1) / n;
        (end > lo).then(|| (lo as u32, (end - 1) as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_count_what_they_number() {
        assert_eq!(
            [bits_for(1), bits_for(2), bits_for(3), bits_for(4), bits_for(5), bits_for(256)],
            [0, 1, 2, 2, 3, 8]
        );
    }

    #[test]
    fn instance_blocks_tile_the_key_space() {
        let blocks: Vec<_> = (0..3)
            .map(|instance| Placement { instance, instances: 3, ..Placement::default() }.instance_keys())
            .collect();
        assert_eq!(blocks, [(0, 0x3fff_ffff), (0x4000_0000, 0x7fff_ffff), (0x8000_0000, 0xbfff_ffff)]);
        let p = Placement { instance: 2, instances: 3, ..Placement::default() };
        assert_eq!(p.instance_of(0x8123_4567), 2);
        assert_eq!(Placement::default().instance_keys(), (0, u32::MAX));
    }

    #[test]
    fn shares_are_disjoint_and_cover_the_range() {
        for instances in 1..=5 {
            let mut next = 10;
            for instance in 0..instances {
                let (lo, hi) = Placement { instance, instances, ..Placement::default() }.share(10, 109).unwrap();
                assert_eq!(lo, next, "{instance} of {instances}");
                assert!(hi >= lo);
                next = hi + 1;
            }
            assert_eq!(next, 110, "every value has an owner");
        }
        let whole = Placement::default().share(0, u32::MAX);
        assert_eq!(whole, Some((0, u32::MAX)));
        let none = Placement { instance: 0, instances: 4, ..Placement::default() }.share(0, 1);
        assert_eq!(none, None, "two values, four instances: instance 0 gets none");
    }

    #[test]
    fn checks_name_what_does_not_fit() {
        assert!(Placement::for_workers(3).check().is_ok());
        assert_eq!(Placement::for_workers(3).worker_bits, 2);
        assert!(Placement { instance: 2, instances: 2, ..Placement::default() }
            .check()
            .unwrap_err()
            .to_string()
            .contains("instance 2"));
        assert!(Placement { worker_bits: 1, workers: 3, ..Placement::default() }
            .check()
            .unwrap_err()
            .to_string()
            .contains("worker bits"));
        let wide = Placement { instances: 1 << 9, worker_bits: 8, workers: 2, instance: 0 };
        assert!(wide.check().unwrap_err().to_string().contains("count with"));
    }
}
