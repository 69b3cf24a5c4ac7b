// C helpers of package dpdk (built with -tags dpdk). cgo cannot see
// bitfields, anonymous unions or per-lcore variables such as rte_errno, and
// every crossing costs about 40 ns, so these helpers do a burst's work in
// one call and return errors as negative errno values.
//
// Everything here is static inline: each cgo file that includes it gets its
// own copy.

#ifndef USTACK_DPDK_H
#define USTACK_DPDK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_net.h>

// Offsets of mbuf fields inside anonymous unions, read from Go.
enum {
	US_OFF_RSS = offsetof(struct rte_mbuf, hash.rss),
};

// us_err turns a DPDK return value into 0 or a negative errno: some
// functions return -1 and set rte_errno, others return -errno.
static inline int us_err(int r) {
	if (r >= 0)
		return 0;
	if (r == -1 && rte_errno > 0)
		return -rte_errno;
	return r;
}

static inline int us_eal_init(int argc, char **argv) {
	int r = rte_eal_init(argc, argv);
	return r < 0 ? -rte_errno : r;
}

static inline int us_eal_cleanup(void) { return us_err(rte_eal_cleanup()); }

static inline int us_dev_probe(const char *devargs) { return us_err(rte_dev_probe(devargs)); }

// us_thread_register makes the calling thread an lcore, once: calling
// rte_thread_register again would take another lcore id.
static inline int us_thread_register(void) {
	if (rte_lcore_id() != LCORE_ID_ANY)
		return 0;
	return rte_thread_register() < 0 ? -rte_errno : 0;
}

static inline void us_thread_unregister(void) {
	unsigned id = rte_lcore_id();
	if (id != LCORE_ID_ANY && rte_eal_lcore_role(id) == ROLE_NON_EAL)
		rte_thread_unregister();
}

static inline unsigned us_lcore_id(void) { return rte_lcore_id(); }

// us_port_name writes the name of port into buf and reports whether the
// port exists.
static inline int us_port_name(uint16_t port, char *buf, size_t len) {
	char name[RTE_ETH_NAME_MAX_LEN];
	if (!rte_eth_dev_is_valid_port(port) || rte_eth_dev_get_name_by_port(port, name) != 0)
		return 0;
	snprintf(buf, len, "%s", name);
	return 1;
}

// us_ports lists up to n valid port ids into ids and returns how many
// exist.
static inline int us_ports(uint16_t *ids, int n) {
	int k = 0;
	uint16_t p;
	RTE_ETH_FOREACH_DEV(p) {
		if (k < n)
			ids[k] = p;
		k++;
	}
	return k;
}

static inline int us_port_by_name(const char *name, uint16_t *port) {
	return us_err(rte_eth_dev_get_port_by_name(name, port));
}

static inline int us_dev_info(uint16_t port, struct rte_eth_dev_info *info) {
	return us_err(rte_eth_dev_info_get(port, info));
}

// us_configure configures port with nq queue pairs: RSS over rss_hf when
// rss is set, the given offloads, and mtu (0: the default).
static inline int us_configure(uint16_t port, uint16_t nq, int rss, uint64_t rss_hf,
			       uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu) {
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mq_mode = rss ? RTE_ETH_MQ_RX_RSS : RTE_ETH_MQ_RX_NONE;
	conf.rxmode.offloads = rx_offloads;
	conf.rxmode.mtu = mtu;
	conf.txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
	conf.txmode.offloads = tx_offloads;
	if (rss) {
		conf.rx_adv_conf.rss_conf.rss_key = NULL; // the device's default key
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	return us_err(rte_eth_dev_configure(port, nq, nq, &conf));
}

static inline int us_adjust_desc(uint16_t port, uint16_t *rxd, uint16_t *txd) {
	return us_err(rte_eth_dev_adjust_nb_rx_tx_desc(port, rxd, txd));
}

static inline int us_queue_setup(uint16_t port, uint16_t q, uint16_t rxd, uint16_t txd,
				 int socket, struct rte_mempool *mp) {
	int r = rte_eth_rx_queue_setup(port, q, rxd, socket, NULL, mp);
	if (r < 0)
		return us_err(r);
	return us_err(rte_eth_tx_queue_setup(port, q, txd, socket, NULL));
}

static inline struct rte_mempool *us_pool_create(const char *name, unsigned n, unsigned cache,
						 uint16_t data_room, int socket, int *err) {
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
	*err = mp == NULL ? -rte_errno : 0;
	return mp;
}

static inline int us_mac_get(uint16_t port, uint8_t *mac) {
	struct rte_ether_addr a;
	int r = rte_eth_macaddr_get(port, &a);
	if (r == 0)
		memcpy(mac, a.addr_bytes, RTE_ETHER_ADDR_LEN);
	return us_err(r);
}

static inline int us_mac_set(uint16_t port, const uint8_t *mac) {
	struct rte_ether_addr a;
	memcpy(a.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	return us_err(rte_eth_dev_default_mac_addr_set(port, &a));
}

static inline int us_mtu_get(uint16_t port, uint16_t *mtu) { return us_err(rte_eth_dev_get_mtu(port, mtu)); }

static inline int us_promisc(uint16_t port, int on) {
	return us_err(on ? rte_eth_promiscuous_enable(port) : rte_eth_promiscuous_disable(port));
}

// us_dev_release detaches a device (rte_dev_remove) once none of its
// ports is left, so that rte_dev_probe can attach it again; a device with
// other ports open stays.
static inline int us_dev_release(struct rte_device *dev) {
	uint16_t p;
	if (dev == NULL)
		return 0;
	RTE_ETH_FOREACH_DEV_OF(p, dev) {
		return 0;
	}
	return us_err(rte_dev_remove(dev));
}

static inline int us_start(uint16_t port) { return us_err(rte_eth_dev_start(port)); }
static inline int us_stop(uint16_t port) { return us_err(rte_eth_dev_stop(port)); }
static inline int us_close(uint16_t port) { return us_err(rte_eth_dev_close(port)); }

// us_rss_get reads the RSS key (up to len bytes) and hash types.
static inline int us_rss_get(uint16_t port, uint8_t *key, uint8_t len, uint64_t *hf) {
	struct rte_eth_rss_conf c;
	memset(&c, 0, sizeof(c));
	c.rss_key = key;
	c.rss_key_len = len;
	int r = rte_eth_dev_rss_hash_conf_get(port, &c);
	*hf = c.rss_hf;
	return us_err(r);
}

// us_reta_spread programs the redirection table round-robin over nq
// queues, as most drivers do by default, so it is known and even.
static inline int us_reta_spread(uint16_t port, uint16_t size, uint16_t nq) {
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	if (size == 0 || size > RTE_ETH_RSS_RETA_SIZE_512)
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (uint16_t i = 0; i < size; i++) {
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = i % nq;
	}
	return us_err(rte_eth_dev_rss_reta_update(port, conf, size));
}

static inline int us_reta_query(uint16_t port, uint16_t size, uint16_t *table) {
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	if (size == 0 || size > RTE_ETH_RSS_RETA_SIZE_512)
		return -EINVAL;
	memset(conf, 0, sizeof(conf));
	for (uint16_t i = 0; i < size; i++)
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
	int r = rte_eth_dev_rss_reta_query(port, conf, size);
	if (r != 0)
		return us_err(r);
	for (uint16_t i = 0; i < size; i++)
		table[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	return 0;
}

// us_link reads the link without waiting; status, duplex and autoneg are
// bitfields.
static inline int us_link(uint16_t port, uint32_t *speed, int *up, int *full, int *autoneg) {
	struct rte_eth_link l;
	memset(&l, 0, sizeof(l));
	int r = rte_eth_link_get_nowait(port, &l);
	*speed = l.link_speed;
	*up = l.link_status;
	*full = l.link_duplex;
	*autoneg = l.link_autoneg;
	return us_err(r);
}

static inline int us_stats(uint16_t port, struct rte_eth_stats *s) { return us_err(rte_eth_stats_get(port, s)); }

static inline int us_xstats_names(uint16_t port, struct rte_eth_xstat_name *names, unsigned n) {
	return rte_eth_xstats_get_names(port, names, n);
}

static inline int us_xstats(uint16_t port, struct rte_eth_xstat *xs, unsigned n) {
	return rte_eth_xstats_get(port, xs, n);
}

// Data path.

static inline void us_free_segs(struct rte_mbuf **segs, unsigned n);

// us_rx frees the nfree segments released since the last call (one
// crossing for both), then receives a burst.
//
// The arrays of the data path's calls are C memory passed as uintptr_t:
// cgo checks every pointer argument for Go pointers, a cost per call.
static inline uint16_t us_rx(uint16_t port, uint16_t q, uintptr_t pkts, uint16_t n,
			     uintptr_t freed, unsigned nfree) {
	if (nfree > 0)
		us_free_segs((struct rte_mbuf **)freed, nfree);
	return rte_eth_rx_burst(port, q, (struct rte_mbuf **)pkts, n);
}

// us_alloc frees the nfree segments released since the last call, then
// allocates n mbufs, all or none.
static inline int us_alloc(uintptr_t mp, uintptr_t pkts, unsigned n, uintptr_t freed, unsigned nfree) {
	if (nfree > 0)
		us_free_segs((struct rte_mbuf **)freed, nfree);
	return rte_pktmbuf_alloc_bulk((struct rte_mempool *)mp, (struct rte_mbuf **)pkts, n);
}

// us_txoff is the offload request of one packet to send, filled by Go.
struct us_txoff {
	uint64_t flags; // RTE_MBUF_F_TX_*
	uint16_t l2, l3, l4, tso;
};

// us_tx sends n packets. With off, it first writes each packet's offload
// flags and header lengths (bitfields) and the pseudo-header checksum DPDK
// expects (without the length for TSO), and runs rte_eth_tx_prepare. The
// low 16 bits of the result are how many packets the device took; the
// high bits, when not zero, are one more than the index of a packet the
// preparation refused (the device was offered only those before it). One
// return value, because a pointer argument would make cgo allocate.
static inline uint32_t us_tx(uint16_t port, uint16_t q, uintptr_t pkts_, uintptr_t off_, uint16_t n) {
	struct rte_mbuf **pkts = (struct rte_mbuf **)pkts_;
	const struct us_txoff *off = (const struct us_txoff *)off_;
	uint32_t bad = 0;
	if (off != NULL) {
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			uint64_t f = off[i].flags;
			m->ol_flags = f;
			if (f == 0)
				continue;
			m->l2_len = off[i].l2;
			m->l3_len = off[i].l3;
			m->l4_len = off[i].l4;
			m->tso_segsz = off[i].tso;
			if (rte_net_intel_cksum_flags_prepare(m, f) != 0) {
				n = i;
				bad = (uint32_t)i + 1;
				break;
			}
		}
		uint16_t ok = rte_eth_tx_prepare(port, q, pkts, n);
		if (ok < n) {
			n = ok;
			bad = (uint32_t)ok + 1;
		}
	}
	return rte_eth_tx_burst(port, q, pkts, n) | bad << 16;
}

// us_free_segs frees n buffers that are each one segment: the Go side
// walks chains itself (a chain's next pointers may not match the mbufs'),
// so every segment is freed on its own, reference counts honoured, in
// bulk per mempool.
static inline void us_free_segs(struct rte_mbuf **segs, unsigned n) {
	struct rte_mbuf *pending[64];
	struct rte_mempool *mp = NULL;
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_prefree_seg(segs[i]);
		if (m == NULL)
			continue;
		if (k > 0 && (k == 64 || m->pool != mp)) {
			rte_mempool_put_bulk(mp, (void **)pending, k);
			k = 0;
		}
		mp = m->pool;
		pending[k++] = m;
	}
	if (k > 0)
		rte_mempool_put_bulk(mp, (void **)pending, k);
}

// us_free_pkts frees n whole packets (chains followed by next).
static inline void us_free_pkts(struct rte_mbuf **pkts, unsigned n) { rte_pktmbuf_free_bulk(pkts, n); }

// us_refcnt adds delta to the reference count of every segment of the n
// chains in heads: a frame the stack still holds stays alive after the
// device frees what it sent.
static inline void us_refcnt(struct rte_mbuf **heads, unsigned n, int16_t delta) {
	for (unsigned i = 0; i < n; i++)
		for (struct rte_mbuf *m = heads[i]; m != NULL; m = m->next)
			rte_mbuf_refcnt_update(m, delta);
}

// us_bench_loop is the C baseline of the round-trip benchmark: rounds
// times, allocate burst packets of len bytes, write 8 bytes into each,
// send them and receive and free what comes back. It returns the packets
// received, or -1 when the pool runs dry.
static inline int64_t us_bench_loop(uint16_t port, uint16_t q, struct rte_mempool *mp,
				    int64_t rounds, uint16_t burst, uint16_t len) {
	struct rte_mbuf *tx[512], *rx[512];
	int64_t got = 0;
	if (burst > 512)
		return -1;
	for (int64_t r = 0; r < rounds; r++) {
		if (rte_pktmbuf_alloc_bulk(mp, tx, burst) != 0)
			return -1;
		for (uint16_t i = 0; i < burst; i++) {
			struct rte_mbuf *m = tx[i];
			m->data_len = len;
			m->pkt_len = len;
			*rte_pktmbuf_mtod(m, uint64_t *) = (uint64_t)r;
		}
		uint16_t sent = rte_eth_tx_burst(port, q, tx, burst);
		if (sent < burst)
			rte_pktmbuf_free_bulk(tx + sent, burst - sent);
		uint16_t n = rte_eth_rx_burst(port, q, rx, burst);
		got += n;
		rte_pktmbuf_free_bulk(rx, n);
	}
	return got;
}

#endif
