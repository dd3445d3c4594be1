/* The DPDK headers a GRE gateway needs, and C wrappers for the static-inline functions and thread-local macros
 * that bindgen cannot expose. Every wrapper is named shim_<dpdk name>. */
#ifndef PMIPGW_DPDK_SHIM_H
#define PMIPGW_DPDK_SHIM_H

#include <rte_config.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_ether.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

/* rte_hash_crc as a function (the hash a table is created with) and per 8-byte key (precomputed hashes). */
uint32_t shim_rte_hash_crc(const void *key, uint32_t key_len, uint32_t init_val);
uint32_t shim_rte_hash_crc_8byte(uint64_t data, uint32_t init_val);

/* rte_errno is a per-lcore (thread-local) variable behind a macro. */
int shim_rte_errno(void);

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
void shim_rte_pktmbuf_reset(struct rte_mbuf *m);

unsigned int shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);
void shim_rte_pause(void);

#endif
