package dpdk

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ustack/ustack/backend"
)

// Defaults of Config.
const (
	DefaultQueues    = 1
	DefaultRxDesc    = 1024
	DefaultTxDesc    = 1024
	DefaultBurst     = 32
	DefaultMbufs     = 8191 // 2^n-1 suits DPDK's ring-based mempools
	DefaultMbufCache = 256
	DefaultIdlePolls = 128

	// MaxBurst bounds Config.Burst.
	MaxBurst = 512
	// MaxMbufCache is DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE.
	MaxMbufCache = 512
)

// Config describes the port to open. Only Port is required; the zero value
// of every other field picks a sensible default.
type Config struct {
	// Port is a port id ("0") or an ethdev name ("net_tap0", "0000:3b:00.0").
	Port string
	// Queues is the number of receive/transmit queue pairs (default 1).
	// More than one turns on RSS where the device has it.
	Queues int
	// RxDesc and TxDesc are the descriptor ring sizes per queue (default
	// 1024 each), adjusted to the device's limits.
	RxDesc, TxDesc int
	// Burst is the most frames one Recv takes from the device and one
	// device call of Send hands it (default 32, at most MaxBurst).
	Burst int
	// Mbufs is the size of each queue's mempool (default 8191). It must
	// cover the descriptor rings, four bursts (two in use, two kept for
	// reuse) and the per-lcore cache.
	Mbufs int
	// MbufCache is the per-lcore cache of each mempool (default 256, at
	// most MaxMbufCache and two thirds of Mbufs).
	MbufCache int
	// MTU is the largest IP packet; zero keeps the device's (1500).
	MTU int
	// MAC, when set, becomes the port's address
	// (rte_eth_dev_default_mac_addr_set). On net_tap, whose device
	// address is its kernel netdev's, it is the stack's alone, and
	// without it the stack takes one derived from the kernel's: the two
	// ends of the link keep addresses of their own.
	MAC net.HardwareAddr
	// Clock timestamps received frames and measures Wait deadlines
	// (default a backend.RealClock).
	Clock backend.Clock
	// Promiscuous receives frames for every destination address.
	// Otherwise the port is in all-multicast mode: it receives every
	// multicast frame, which IPv6 needs (Neighbor Discovery's
	// solicited-node and all-nodes groups), as well as its own address's
	// and broadcast ones.
	Promiscuous bool
	// IdlePolls is how many empty polls in a row Wait lets pass at once
	// before it starts to back off (default 128; see Port.Wait).
	IdlePolls int
	// IdleSleep, when positive, makes an idle Wait sleep up to this long
	// (cut short by Wake or the deadline) instead of yielding the
	// processor: less CPU, more latency.
	IdleSleep time.Duration
	// Poison fills the buffer of every mbuf the stack releases for good
	// (one nobody else holds) with backend.PoisonByte, so that a use
	// after release reads garbage: a debugging aid that writes each
	// buffer once more.
	Poison bool
}

// ErrNotBuilt is what Init and Open return in a binary built without the
// dpdk build tag.
var ErrNotBuilt = errors.New("dpdk: this ustack was built without DPDK; rebuild with -tags dpdk (make build-dpdk)")

// ErrInitialised is wrapped by Init's error when the EAL is already up.
var ErrInitialised = errors.New("dpdk: the EAL is already initialised")

// fill validates c and fills in its defaults.
func (c *Config) fill() error {
	if c.Port == "" {
		return errors.New("dpdk: no port: set Config.Port to a port id such as 0 or a device name such as net_tap0")
	}
	if c.Queues == 0 {
		c.Queues = DefaultQueues
	}
	if c.RxDesc == 0 {
		c.RxDesc = DefaultRxDesc
	}
	if c.TxDesc == 0 {
		c.TxDesc = DefaultTxDesc
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.Mbufs == 0 {
		c.Mbufs = DefaultMbufs
	}
	if c.MbufCache == 0 {
		c.MbufCache = min(DefaultMbufCache, c.Mbufs*2/3)
	}
	if c.IdlePolls == 0 {
		c.IdlePolls = DefaultIdlePolls
	}
	if c.Clock == nil {
		c.Clock = backend.NewRealClock()
	}
	switch {
	case c.Queues < 1 || c.Queues > 1024:
		return fmt.Errorf("dpdk port %s: %d queues: want 1 to 1024", c.Port, c.Queues)
	case c.RxDesc < 1 || c.RxDesc > 65535:
		return fmt.Errorf("dpdk port %s: %d rx descriptors: want 1 to 65535", c.Port, c.RxDesc)
	case c.TxDesc < 1 || c.TxDesc > 65535:
		return fmt.Errorf("dpdk port %s: %d tx descriptors: want 1 to 65535", c.Port, c.TxDesc)
	case c.Burst < 1 || c.Burst > MaxBurst:
		return fmt.Errorf("dpdk port %s: burst %d: want 1 to %d", c.Port, c.Burst, MaxBurst)
	case c.Mbufs < 1:
		return fmt.Errorf("dpdk port %s: %d mbufs per queue: want a positive count", c.Port, c.Mbufs)
	case c.MbufCache < 0 || c.MbufCache > MaxMbufCache:
		return fmt.Errorf("dpdk port %s: mbuf cache %d: want 0 to %d", c.Port, c.MbufCache, MaxMbufCache)
	case c.MbufCache*3 > c.Mbufs*2:
		// DPDK refuses a cache more than 2/3 of the pool
		// (RTE_MEMPOOL_CACHE_FLUSHTHRESH_MULTIPLIER).
		return fmt.Errorf("dpdk port %s: mbuf cache %d is more than two thirds of the %d mbufs per queue", c.Port, c.MbufCache, c.Mbufs)
	case c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535):
		return fmt.Errorf("dpdk port %s: mtu %d: want 68 to 65535", c.Port, c.MTU)
	case c.MAC != nil && (len(c.MAC) != 6 || c.MAC[0]&1 != 0):
		return fmt.Errorf("dpdk port %s: mac %v: want a unicast Ethernet address", c.Port, c.MAC)
	case c.IdlePolls < 0:
		return fmt.Errorf("dpdk port %s: idle polls %d: want zero or more", c.Port, c.IdlePolls)
	case c.IdleSleep < 0:
		return fmt.Errorf("dpdk port %s: idle sleep %v: want zero or more", c.Port, c.IdleSleep)
	}
	return nil
}

// Link is a port's link state.
type Link struct {
	Up         bool
	SpeedMbps  uint32
	FullDuplex bool
	Autoneg    bool
}

func (l Link) String() string {
	if !l.Up {
		return "down"
	}
	d := "half-duplex"
	if l.FullDuplex {
		d = "full-duplex"
	}
	return fmt.Sprintf("up %d Mb/s %s", l.SpeedMbps, d)
}

// PortStats are the device's own counters (rte_eth_stats), named as DPDK
// names them.
type PortStats struct {
	IPackets, OPackets uint64 // frames received and sent
	IBytes, OBytes     uint64
	IMissed            uint64 // dropped by the device: no descriptor free
	IErrors, OErrors   uint64
	RxNoMbuf           uint64 // receive buffer allocation failures
}

// XStat is one of a device's extended statistics (rte_eth_xstats_get).
type XStat struct {
	Name  string
	Value uint64
}
