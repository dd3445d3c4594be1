//! `rte_flow` rules that steer GRE packets to a worker's rx queue by key ([`crate::steering`]).

use super::error::{last_error, strerror};
use super::{DpdkError, Port};
use crate::steering::{Outer, SteeringRule};
use std::ffi::CStr;
use std::ptr;

/// GRE flags word with the K bit (RFC 2890 §2): the rule matches keyed GRE only.
const GRE_K: u16 = 0x2000;

/// What one rule's pattern and action point at, kept in one place while DPDK reads them.
struct Pattern {
    outer: Outer,
    gre_spec: dpdk_sys::rte_flow_item_gre,
    gre_mask: dpdk_sys::rte_flow_item_gre,
    key_spec: u32,
    key_mask: u32,
    queue: dpdk_sys::rte_flow_action_queue,
}

impl Pattern {
    fn new(rule: &SteeringRule) -> Pattern {
        let k = dpdk_sys::rte_flow_item_gre { c_rsvd0_ver: GRE_K.to_be(), protocol: 0 };
        Pattern {
            outer: rule.outer,
            gre_spec: k,
            gre_mask: k,
            key_spec: rule.value.to_be(),
            key_mask: rule.mask.to_be(),
            queue: dpdk_sys::rte_flow_action_queue { index: rule.queue.0 },
        }
    }

    /// ETH / IPV4|IPV6 / GRE (K) / GRE_KEY / END: outer headers of any address, keyed GRE, the masked key.
    fn items(&self) -> [dpdk_sys::rte_flow_item; 5] {
        let any = |type_| dpdk_sys::rte_flow_item { type_, spec: ptr::null(), last: ptr::null(), mask: ptr::null() };
        let ip = match self.outer {
            Outer::Ipv4 => dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4,
            Outer::Ipv6 => dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV6,
        };
        [
            any(dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH),
            any(ip),
            dpdk_sys::rte_flow_item {
                type_: dpdk_sys::RTE_FLOW_ITEM_TYPE_GRE,
                spec: ptr::from_ref(&self.gre_spec).cast(),
                last: ptr::null(),
                mask: ptr::from_ref(&self.gre_mask).cast(),
            },
            dpdk_sys::rte_flow_item {
                type_: dpdk_sys::RTE_FLOW_ITEM_TYPE_GRE_KEY,
                spec: ptr::from_ref(&self.key_spec).cast(),
                last: ptr::null(),
                mask: ptr::from_ref(&self.key_mask).cast(),
            },
            any(dpdk_sys::RTE_FLOW_ITEM_TYPE_END),
        ]
    }

    fn actions(&self) -> [dpdk_sys::rte_flow_action; 2] {
        [
            dpdk_sys::rte_flow_action {
                type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE,
                conf: ptr::from_ref(&self.queue).cast(),
            },
            dpdk_sys::rte_flow_action { type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_END, conf: ptr::null() },
        ]
    }
}

fn ingress() -> dpdk_sys::rte_flow_attr {
    let mut attr = dpdk_sys::rte_flow_attr::default();
    attr.set_ingress(1);
    attr
}

/// DPDK's reason for a refused rule: its message if it gave one, and the errno's text.
fn reason(errno: String, error: &dpdk_sys::rte_flow_error) -> String {
    if error.message.is_null() {
        return errno;
    }
    // SAFETY: a non-null rte_flow_error message is a NUL-terminated string owned by the driver (static or
    // valid until the next rte_flow call on this thread), read at once.
    let message = unsafe { CStr::from_ptr(error.message) }.to_string_lossy().into_owned();
    if errno.starts_with(&message) {
        errno
    } else {
        format!("{message} ({errno})")
    }
}

impl Port {
    /// Installs `rules`, each validated first; none is left installed if any is refused. The rules live until
    /// the port is closed.
    pub fn steer(&self, rules: &[SteeringRule]) -> Result<usize, DpdkError> {
        let port = self.id();
        let attr = ingress();
        let patterns: Vec<Pattern> = rules.iter().map(Pattern::new).collect();
        let refused = |operation, errno, error: &dpdk_sys::rte_flow_error| DpdkError::Port {
            port,
            operation,
            reason: reason(errno, error),
        };
        for pattern in &patterns {
            let (items, actions) = (pattern.items(), pattern.actions());
            let mut error = dpdk_sys::rte_flow_error::default();
            // SAFETY: attr, items and actions (and the specs they point at, in `pattern`) outlive the call, the
            // item list ends with END and the action list with END; error is a valid out-parameter.
            let rc = unsafe { dpdk_sys::rte_flow_validate(port, &attr, items.as_ptr(), actions.as_ptr(), &mut error) };
            if rc != 0 {
                return Err(refused("rte_flow_validate", strerror(rc), &error));
            }
        }
        for pattern in &patterns {
            let (items, actions) = (pattern.items(), pattern.actions());
            let mut error = dpdk_sys::rte_flow_error::default();
            // SAFETY: as for rte_flow_validate above; the returned handle is owned by the port (flushed below or
            // freed when the port closes).
            let flow = unsafe { dpdk_sys::rte_flow_create(port, &attr, items.as_ptr(), actions.as_ptr(), &mut error) };
            if flow.is_null() {
                let failure = refused("rte_flow_create", last_error(), &error);
                let mut ignored = dpdk_sys::rte_flow_error::default();
                // SAFETY: removes the rules this call created on a valid port; error is a valid out-parameter.
                unsafe { dpdk_sys::rte_flow_flush(port, &mut ignored) };
                return Err(failure);
            }
        }
        Ok(patterns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::QueueId;
    use crate::steering::worker_rules;

    /// A NIC's view of a pattern, as a driver parses it: the only pattern it takes is ETH / IPV4|IPV6 / GRE with
    /// the K bit / GRE_KEY, any addresses, and one QUEUE action below `queues`. Returns the rule it would apply.
    fn device_model(pattern: &Pattern, queues: u16) -> Result<SteeringRule, String> {
        let items = pattern.items();
        let types: Vec<_> = items.iter().map(|i| i.type_).collect();
        let outer = match types[..] {
            [dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH, ip, dpdk_sys::RTE_FLOW_ITEM_TYPE_GRE, dpdk_sys::RTE_FLOW_ITEM_TYPE_GRE_KEY, dpdk_sys::RTE_FLOW_ITEM_TYPE_END] => {
                match ip {
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4 => Outer::Ipv4,
                    dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV6 => Outer::Ipv6,
                    other => return Err(format!("outer item type {other}")),
                }
            }
            _ => return Err(format!("pattern {types:?}")),
        };
        if [0, 1].iter().any(|&i| !items[i].spec.is_null() || !items[i].mask.is_null()) {
            return Err("the outer headers must match any address".into());
        }
        // SAFETY: the GRE item's spec and mask point at rte_flow_item_gre values in `pattern`, alive here.
        let (gre, gre_mask) = unsafe {
            (*items[2].spec.cast::<dpdk_sys::rte_flow_item_gre>(), *items[2].mask.cast::<dpdk_sys::rte_flow_item_gre>())
        };
        if u16::from_be(gre_mask.c_rsvd0_ver) & GRE_K == 0 || u16::from_be(gre.c_rsvd0_ver) & GRE_K == 0 {
            return Err("GRE without the K bit matched".into());
        }
        // SAFETY: the GRE_KEY item's spec and mask point at big-endian u32 values in `pattern`.
        let (key, mask) =
            unsafe { (u32::from_be(*items[3].spec.cast::<u32>()), u32::from_be(*items[3].mask.cast::<u32>())) };
        let actions = pattern.actions();
        if actions[0].type_ != dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE
            || actions[1].type_ != dpdk_sys::RTE_FLOW_ACTION_TYPE_END
        {
            return Err("one QUEUE action".into());
        }
        // SAFETY: the QUEUE action's conf points at the rte_flow_action_queue in `pattern`.
        let queue = unsafe { (*actions[0].conf.cast::<dpdk_sys::rte_flow_action_queue>()).index };
        if queue >= queues {
            return Err(format!("queue {queue} of {queues}"));
        }
        Ok(SteeringRule { outer, value: key, mask, queue: QueueId(queue) })
    }

    #[test]
    fn the_patterns_a_device_reads_are_the_rules_asked_for() {
        let rules = worker_rules(2, 4);
        for rule in &rules {
            assert_eq!(device_model(&Pattern::new(rule), 4).as_ref(), Ok(rule), "byte order, K bit and queue");
        }
        let wide = SteeringRule { queue: QueueId(4), ..rules[0] };
        assert!(device_model(&Pattern::new(&wide), 4).is_err(), "a queue the device lacks is refused");
        assert!(ingress().ingress() == 1);
    }
}
