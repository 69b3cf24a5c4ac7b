// C helpers of package dpdk (built with -tags dpdk). cgo cannot see
// bitfields, anonymous unions or per-lcore variables such as rte_errno, and
// every crossing costs about 40 ns, so these helpers do a burst's work in
// one call and return errors as negative errno values.
//
// Everything here is static inline: each cgo file that includes it gets its
// own copy.

#ifndef USTACK_DPDK_H
#define USTACK_DPDK_H

// rte_cpuset_t is glibc's cpu_set_t, a GNU extension.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_net.h>

// us_err turns a DPDK return value into 0 or a negative errno: some
// functions return -1 and set rte_errno, others return -errno.
static inline int us_err(int r) {
	if (r >= 0)
		return 0;
	if (r == -1 && rte_errno > 0)
		return -rte_errno;
	return r;
}

static inline int us_errno(void) { return rte_errno; }

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

// us_lcore_count is how many lcores -l (or -c) gave the EAL: not
// rte_lcore_count, which counts the threads rte_thread_register made
// lcores too.
static inline unsigned us_lcore_count(void) {
	unsigned n = 0;
	for (unsigned lc = rte_get_next_lcore(-1, 0, 0); lc < RTE_MAX_LCORE; lc = rte_get_next_lcore(lc, 0, 0))
		n++;
	return n;
}

// us_pin_queue binds the calling thread to the CPUs of the lcore that
// queue q of n runs on and returns that lcore: with more lcores than
// queues, the worker lcores in order (the main lcore is left to the
// application); with as many, every lcore, the main one first. With fewer
// lcores than queues it pins nothing and returns -ERANGE.
static inline int us_pin_queue(unsigned q, unsigned n) {
	unsigned count = us_lcore_count();
	if (q >= n || n > count)
		return -ERANGE;
	int skip_main = count > n;
	unsigned lc = rte_get_next_lcore(-1, skip_main, 0);
	for (unsigned i = 0; i < q && lc < RTE_MAX_LCORE; i++)
		lc = rte_get_next_lcore(lc, skip_main, 0);
	if (lc >= RTE_MAX_LCORE)
		return -ERANGE;
	rte_cpuset_t set = rte_lcore_cpuset(lc);
	if (rte_thread_set_affinity(&set) < 0)
		return -EINVAL;
	return (int)lc;
}

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

// Frames. Every mbuf of our mempools carries its backend.Frame in its
// private area, so the burst calls below fill in C the frames Go hands to
// the stack, and a frame's mbuf is at a fixed distance before it.
// us_frame mirrors backend.Frame field for field and us_mframe the dpdk
// package's mframe; Go checks both layouts when the package starts.
struct us_frame {
	// backend.Meta
	uint16_t l2, l3, l4;
	uint8_t csum;
	uint16_t csum_start, csum_off;
	uint8_t gso;
	uint16_t gso_size;
	uint16_t vlan;
	uint8_t has_vlan;
	uint32_t rss;
	uint8_t has_rss;
	int64_t ts;

	uint8_t *store; // a Go slice over the mbuf's buffer
	int64_t store_len, store_cap;
	int64_t off, n, total;
	struct us_frame *next;
	int32_t refs;
	uintptr_t owner[2]; // a Go interface: the package's mbufOwner, not a heap pointer
	uintptr_t handle;   // the mbuf
	int64_t queue;
};

struct us_mframe {
	struct us_frame f;
	uint32_t lender; // the registry index of the queue that lent it
};

// The private area is whole cache lines, so that buffers stay aligned.
#define US_PRIV_SIZE RTE_CACHE_LINE_ROUNDUP(sizeof(struct us_mframe))

// Offsets Go checks against backend.FrameLayout, and backend.CsumState
// values C writes.
enum {
	US_FO_META_END = offsetof(struct us_frame, store),
	US_FO_CSUM = offsetof(struct us_frame, csum),
	US_FO_GSO = offsetof(struct us_frame, gso),
	US_FO_VLAN = offsetof(struct us_frame, vlan),
	US_FO_HAS_VLAN = offsetof(struct us_frame, has_vlan),
	US_FO_RSS = offsetof(struct us_frame, rss),
	US_FO_HAS_RSS = offsetof(struct us_frame, has_rss),
	US_FO_TS = offsetof(struct us_frame, ts),
	US_FO_STORE = offsetof(struct us_frame, store),
	US_FO_OFF = offsetof(struct us_frame, off),
	US_FO_N = offsetof(struct us_frame, n),
	US_FO_TOTAL = offsetof(struct us_frame, total),
	US_FO_NEXT = offsetof(struct us_frame, next),
	US_FO_REFS = offsetof(struct us_frame, refs),
	US_FO_OWNER = offsetof(struct us_frame, owner),
	US_FO_HANDLE = offsetof(struct us_frame, handle),
	US_FO_QUEUE = offsetof(struct us_frame, queue),
	US_FO_SIZE = sizeof(struct us_frame),
	US_FO_LENDER = offsetof(struct us_mframe, lender),
	US_MFRAME_SIZE = sizeof(struct us_mframe),
	US_CSUM_PARTIAL = 1,
	US_CSUM_VERIFIED = 2,
	US_CSUM_BAD = 3,
};

static inline struct us_mframe *us_mframe_of(struct rte_mbuf *m) { return (struct us_mframe *)rte_mbuf_to_priv(m); }

static inline struct rte_mbuf *us_mbuf_of(struct us_frame *f) {
	return (struct rte_mbuf *)((char *)f - sizeof(struct rte_mbuf));
}

// us_frame_init gives a new mbuf's frame what stays for the mbuf's life:
// its owner and handle (rte_mempool_obj_iter's callback).
static void us_frame_init(struct rte_mempool *mp, void *owner, void *obj, unsigned idx) {
	(void)mp;
	(void)idx;
	struct rte_mbuf *m = obj;
	struct us_mframe *mf = us_mframe_of(m);
	memset(mf, 0, sizeof(*mf));
	memcpy(mf->f.owner, owner, sizeof(mf->f.owner));
	mf->f.handle = (uintptr_t)m;
}

// us_pool_create makes a mempool of n mbufs with a frame in each, owned by
// the Go interface value whose two words are owner.
static inline struct rte_mempool *us_pool_create(const char *name, unsigned n, unsigned cache,
						 uint16_t data_room, int socket, uintptr_t owner0,
						 uintptr_t owner1, int *err) {
	// rte_pktmbuf_pool_create, but without hugepages objects may cross
	// pages: asked for IOVA-contiguous objects in 4 KiB pages, DPDK gives
	// each mbuf a page of its own, every mbuf then maps to the same cache
	// sets and a burst's mbufs evict each other. Without hugepages IOVA is
	// VA (an object contiguous in memory is so for a device too) or there
	// is none (no device can DMA).
	unsigned flags = rte_eal_has_hugepages() ? 0 : RTE_MEMPOOL_F_NO_IOVA_CONTIG;
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = data_room,
		.mbuf_priv_size = US_PRIV_SIZE,
	};
	struct rte_mempool *mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + US_PRIV_SIZE + data_room,
							  cache, sizeof(priv), socket, flags);
	if (mp == NULL) {
		*err = -rte_errno;
		return NULL;
	}
	int r = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (r == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		r = rte_mempool_populate_default(mp);
		r = r < 0 ? r : 0;
	}
	if (r != 0) {
		rte_mempool_free(mp);
		*err = r;
		return NULL;
	}
	*err = 0;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	uintptr_t owner[2] = {owner0, owner1};
	rte_mempool_obj_iter(mp, us_frame_init, owner);
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

// us_allmulti has the port receive every multicast frame; a driver
// without the switch (-ENOTSUP) filters none to begin with.
static inline int us_allmulti(uint16_t port) {
	int r = rte_eth_allmulticast_enable(port);
	return r == -ENOTSUP ? 0 : us_err(r);
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

// us_q is what the frame calls need to know of a queue, in C memory.
struct us_q {
	uint16_t port, qid;
	uint32_t lender;
	int64_t queue;
	struct rte_mempool *mp;
	uintptr_t owner[2];
	struct rte_mbuf **mbufs; // burst scratch: at least as long as a burst and an allocation
	struct us_frame **frames; // frames filled for Go, as long
	uint64_t foreign;         // received mbufs of other mempools, copied
	uint64_t nobuf;           // of those, dropped for want of an mbuf
	int clock_mono;           // stamp frames with CLOCK_MONOTONIC plus clock_off
	int64_t clock_off;
};

// us_mono_ns reads CLOCK_MONOTONIC, the clock Go's runtime reads too.
static inline int64_t us_mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// us_putter gathers freed segments and puts them back to their mempools
// in bulk, one call per run of the same mempool.
struct us_putter {
	struct rte_mbuf *pending[64];
	struct rte_mempool *mp;
	unsigned k;
};

static inline void us_put_flush(struct us_putter *p) {
	if (p->k > 0)
		rte_mempool_put_bulk(p->mp, (void **)p->pending, p->k);
	p->k = 0;
}

// us_put_seg drops a reference of one segment and, when it was the last,
// gathers the segment for its mempool.
static inline void us_put_seg(struct us_putter *p, struct rte_mbuf *seg) {
	struct rte_mbuf *m = rte_pktmbuf_prefree_seg(seg);
	if (m == NULL)
		return;
	if (p->k == 64 || (p->k > 0 && m->pool != p->mp))
		us_put_flush(p);
	p->mp = m->pool;
	p->pending[p->k++] = m;
}

// us_free_frames frees the mbufs of n chains of frames, each segment on its
// own (reference counts honoured), in bulk per mempool. The frames' chain
// is the truth: mbuf next pointers are written only to send.
static inline void us_free_frames(struct us_frame **heads, unsigned n) {
	struct us_putter p = {.k = 0};
	for (unsigned i = 0; i < n; i++)
		for (struct us_frame *f = heads[i]; f != NULL; f = f->next)
			us_put_seg(&p, us_mbuf_of(f));
	us_put_flush(&p);
}

// us_fill makes m's frame a fresh buffer of q with a data window of n bytes
// at off (cut to the buffer), as backend.Frame.InitData does.
static inline struct us_frame *us_fill(const struct us_q *q, struct rte_mbuf *m, uint32_t off, uint32_t n) {
	struct us_mframe *mf = us_mframe_of(m);
	struct us_frame *f = &mf->f;
	uint32_t len = m->buf_len;
	memset(f, 0, US_FO_META_END);
	if (off > len)
		off = len;
	if (n > len - off)
		n = len - off;
	f->store = m->buf_addr;
	f->store_len = len;
	f->store_cap = len;
	f->off = off;
	f->n = n;
	f->total = n;
	f->next = NULL;
	f->refs = 1;
	f->queue = q->queue;
	mf->lender = q->lender;
	return f;
}

// us_ours reports whether m is one of our mbufs, with a frame we made, and
// nobody else's: a loopback device returns the very mbufs sent, and the
// frame of one the stack still holds is the stack's.
static inline int us_ours(const struct us_q *q, struct rte_mbuf *m) {
	if (rte_mbuf_refcnt_read(m) != 1)
		return 0;
	if (m->pool != q->mp && rte_pktmbuf_priv_size(m->pool) < US_PRIV_SIZE)
		return 0;
	const struct us_frame *f = &us_mframe_of(m)->f;
	return f->owner[0] == q->owner[0] && f->owner[1] == q->owner[1];
}

// us_rx_meta fills a received frame's metadata from its mbuf's flags.
static inline void us_rx_meta(struct us_frame *f, const struct rte_mbuf *m) {
	uint64_t fl = m->ol_flags;
	if ((fl & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
	    (fl & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f->csum = US_CSUM_BAD;
	else if ((fl & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f->csum = US_CSUM_VERIFIED;
	if (fl & RTE_MBUF_F_RX_RSS_HASH) {
		f->rss = m->hash.rss;
		f->has_rss = 1;
	}
	if (fl & RTE_MBUF_F_RX_VLAN_STRIPPED) {
		f->vlan = m->vlan_tci;
		f->has_vlan = 1;
	}
}

// us_rx_chain makes the frames of a received chain of mbufs, all ours,
// and returns the head. A buffer's total is the bytes from it to the end,
// as backend.Frame.Chain leaves it.
static inline struct us_frame *us_rx_chain(const struct us_q *q, struct rte_mbuf *m, uint32_t *segs) {
	struct us_frame *head = NULL, *prev = NULL;
	for (struct rte_mbuf *s = m; s != NULL; s = s->next) {
		struct us_frame *f = us_fill(q, s, s->data_off, s->data_len);
		if (prev != NULL)
			prev->next = f;
		else
			head = f;
		prev = f;
		(*segs)++;
	}
	int64_t total = 0;
	for (struct us_frame *f = head; f != NULL; f = f->next)
		total += f->n;
	for (struct us_frame *f = head; f != NULL; f = f->next) {
		f->total = total;
		total -= f->n;
	}
	return head;
}

// us_chain_ours reports whether every segment of m is ours.
static inline int us_chain_ours(const struct us_q *q, struct rte_mbuf *m) {
	for (; m != NULL; m = m->next)
		if (!us_ours(q, m))
			return 0;
	return 1;
}

// us_recv frees the nfree chains released since the last call, receives a
// burst of up to want packets and makes each a frame in q->frames: a
// chain of frames for a chain of mbufs; an mbuf of another mempool, or one
// whose frame is in use (see us_ours), is copied into ours first. It
// returns the frames, the segments (bits 16-35) and the bytes (from bit
// 36). Frames are stamped now, or, for a queue on the real clock, with
// the time they came (read only when some did).
static inline uint64_t us_recv(uintptr_t q_, uint16_t want, uintptr_t freed, unsigned nfree, int64_t now) {
	struct us_q *q = (struct us_q *)q_;
	if (nfree > 0)
		us_free_frames((struct us_frame **)freed, nfree);
	struct rte_mbuf **pkts = q->mbufs;
	uint16_t n = rte_eth_rx_burst(q->port, q->qid, pkts, want);
	if (n > 0 && q->clock_mono)
		now = us_mono_ns() + q->clock_off;
	uint64_t k = 0, bytes = 0;
	uint32_t segs = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		if (unlikely(!us_chain_ours(q, m))) {
			struct rte_mbuf *c = rte_pktmbuf_copy(m, q->mp, 0, UINT32_MAX);
			rte_pktmbuf_free(m);
			q->foreign++;
			if (c == NULL) {
				q->nobuf++;
				continue;
			}
			m = c;
		}
		struct us_frame *f;
		if (m->nb_segs == 1) {
			f = us_fill(q, m, m->data_off, m->data_len);
			segs++;
		} else {
			f = us_rx_chain(q, m, &segs);
		}
		f->ts = now;
		if (m->ol_flags != 0)
			us_rx_meta(f, m);
		bytes += f->total;
		q->frames[k++] = f;
	}
	return k | (uint64_t)segs << 16 | bytes << 36;
}

// us_alloc_frames frees the nfree chains released since the last call,
// then allocates n frames of segs mbufs each, all or none (non-zero), into
// q->frames: the first mbuf with its headroom, the others all data room.
static inline int us_alloc_frames(uintptr_t q_, unsigned n, unsigned segs, uintptr_t freed, unsigned nfree) {
	struct us_q *q = (struct us_q *)q_;
	if (nfree > 0)
		us_free_frames((struct us_frame **)freed, nfree);
	struct rte_mbuf **ms = q->mbufs;
	int r = rte_pktmbuf_alloc_bulk(q->mp, ms, n * segs);
	if (r != 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = ms[i * segs];
		struct us_frame *head = us_fill(q, m, m->data_off, 0), *prev = head;
		for (unsigned j = 1; j < segs; j++) {
			struct us_frame *f = us_fill(q, ms[i * segs + j], 0, 0);
			prev->next = f;
			prev = f;
		}
		q->frames[i] = head;
	}
	return 0;
}

// US_NOT_PLAIN is us_send_plain's answer for a burst it leaves to Go.
#define US_NOT_PLAIN UINT64_MAX

// us_send_plain sends a burst of frames that are all ours (the caller
// checked), lent by this queue, one mbuf each with its caller's last
// reference, asking for no offload and between 14 and max_len bytes long:
// it writes their mbufs and hands them to the device, which then owns
// them and their frames. It returns how many the device took and their
// bytes (from bit 16), or US_NOT_PLAIN, having changed nothing, when a
// frame is of another kind.
static inline uint64_t us_send_plain(uintptr_t q_, uintptr_t frames_, uint16_t n, int64_t max_len) {
	struct us_q *q = (struct us_q *)q_;
	struct us_frame **fs = (struct us_frame **)frames_;
	struct rte_mbuf **pkts = q->mbufs;
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct us_frame *f = fs[i];
		if (f->refs != 1 || f->next != NULL || f->gso != 0 || f->csum == US_CSUM_PARTIAL ||
		    f->n != f->total || f->n < 14 || f->n > max_len ||
		    ((struct us_mframe *)f)->lender != q->lender)
			return US_NOT_PLAIN;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct us_frame *f = fs[i];
		struct rte_mbuf *m = us_mbuf_of(f);
		m->data_off = (uint16_t)f->off;
		m->data_len = (uint16_t)f->n;
		m->pkt_len = (uint32_t)f->n;
		m->nb_segs = 1;
		m->next = NULL;
		m->ol_flags = 0;
		f->refs = 0;
		bytes += (uint64_t)f->n;
		pkts[i] = m;
	}
	uint16_t k = rte_eth_tx_burst(q->port, q->qid, pkts, n);
	for (uint16_t i = k; i < n; i++) {
		fs[i]->refs = 1;
		bytes -= (uint64_t)fs[i]->n;
	}
	return k | bytes << 16;
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
			m->tx_offload = 0; // a received mbuf sent again keeps what it had
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
	struct us_putter p = {.k = 0};
	for (unsigned i = 0; i < n; i++)
		us_put_seg(&p, segs[i]);
	us_put_flush(&p);
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

// us_send_foreign sends on port's queue q (a loopback) n packets of len
// bytes from mp, a mempool that is not ours, each 8 bytes of seed+i
// followed by zeros and, with segs, a chain of two mbufs. It returns how
// many the device took. Tests only.
static inline int us_send_foreign(uint16_t port, uint16_t q, struct rte_mempool *mp, uint16_t n,
				  uint16_t len, int segs, uint64_t seed) {
	struct rte_mbuf *pkts[64];
	if (n > 64 || len < 16 || rte_pktmbuf_alloc_bulk(mp, pkts, n) != 0)
		return -1;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t first = segs ? len / 2 : len;
		char *d = rte_pktmbuf_append(m, first);
		memset(d, 0, first);
		*(uint64_t *)d = seed + i;
		if (segs) {
			struct rte_mbuf *t = rte_pktmbuf_alloc(mp);
			if (t == NULL || rte_pktmbuf_chain(m, t) != 0)
				return -1;
			memset(rte_pktmbuf_append(m, len - first), 0, len - first);
		}
	}
	uint16_t k = rte_eth_tx_burst(port, q, pkts, n);
	if (k < n)
		rte_pktmbuf_free_bulk(pkts + k, n - k);
	return k;
}

#endif
