/* Out-of-line copies of DPDK static-inline functions, so Rust can call them. Compiled with the C flags of
 * `pkg-config --cflags libdpdk` (which carry -march, hence SSSE3 or better). */
#include "shim.h"

/* Constants that DPDK builds with RTE_BIT64 or similar function-like macros are defined by hand on the Rust side
 * (ffi/src/lib.rs); these assertions make the build fail if a DPDK release ever moves one of them. */
_Static_assert(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM == (1ULL << 1), "RTE_ETH_RX_OFFLOAD_IPV4_CKSUM moved");
_Static_assert(RTE_ETH_TX_OFFLOAD_IPV4_CKSUM == (1ULL << 1), "RTE_ETH_TX_OFFLOAD_IPV4_CKSUM moved");
_Static_assert(RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE == (1ULL << 16), "RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE moved");
_Static_assert(RTE_ETH_RSS_IP == ((1ULL << 2) | (1ULL << 3) | (1ULL << 7) | (1ULL << 8) | (1ULL << 9) | (1ULL << 13) | (1ULL << 15)), "RTE_ETH_RSS_IP moved");
_Static_assert(RTE_MBUF_F_RX_IP_CKSUM_MASK == ((1ULL << 4) | (1ULL << 7)), "RTE_MBUF_F_RX_IP_CKSUM_MASK moved");
_Static_assert(RTE_MBUF_F_RX_IP_CKSUM_BAD == (1ULL << 4), "RTE_MBUF_F_RX_IP_CKSUM_BAD moved");
_Static_assert(RTE_MBUF_F_RX_IP_CKSUM_GOOD == (1ULL << 7), "RTE_MBUF_F_RX_IP_CKSUM_GOOD moved");
_Static_assert(RTE_MBUF_F_TX_IP_CKSUM == (1ULL << 54), "RTE_MBUF_F_TX_IP_CKSUM moved");
_Static_assert(RTE_MBUF_F_TX_IPV4 == (1ULL << 55), "RTE_MBUF_F_TX_IPV4 moved");
_Static_assert(RTE_MBUF_F_TX_IPV6 == (1ULL << 56), "RTE_MBUF_F_TX_IPV6 moved");
_Static_assert(RTE_ETH_MQ_RX_RSS == 1, "RTE_ETH_MQ_RX_RSS moved");

int shim_rte_errno(void) { return rte_errno; }

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void shim_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void shim_rte_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

unsigned int shim_rte_lcore_id(void) { return rte_lcore_id(); }

uint64_t shim_rte_rdtsc(void) { return rte_rdtsc(); }

void shim_rte_pause(void) { rte_pause(); }

uint32_t shim_rte_hash_crc(const void *key, uint32_t key_len, uint32_t init_val) {
    return rte_hash_crc(key, key_len, init_val);
}

uint32_t shim_rte_hash_crc_8byte(uint64_t data, uint32_t init_val) {
    return rte_hash_crc_8byte(data, init_val);
}
