//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

// Port is an open DPDK ethdev port; it implements backend.Backend and
// backend.StatsReader.
//
// Memory: every queue has its own mempool, and every mbuf its Frame in its
// private area. Frames Recv returns are the device's mbufs, lent without a
// copy: a frame's bytes are the mbuf's data room, its Handle the mbuf's
// address. Frames Alloc returns are fresh mbufs (chains above
// Caps().BufSize) that the stack writes into directly and Send hands to
// the device as they are. Released frames go back to the mempool in bulk
// with the queue's next device call. A frame the caller holds a reference
// to (Frame.Ref) survives Send: Send takes one reference, like Release,
// and raises the mbuf's reference count for the device.
type Port struct {
	cfg    Config
	id     uint16
	name   string
	caps   backend.Caps
	queues []*queue

	bufLen   int // an mbuf's whole buffer
	dataRoom int // after the headroom: Caps().BufSize
	rxd, txd int // descriptors per queue, as adjusted
	drvName  string
	dev      *C.struct_rte_device // released by Close when it has no other port

	touched bool // queues were set up: the device may hold our mbufs

	rxCsum bool // RX checksum results are in ol_flags
	// rxPartial: the device reads what the kernel sends before any NIC
	// (a packet socket or libpcap on a veth, a capture file), so frames
	// may carry checksums the sender left to a NIC: Recv marks those
	// CsumPartial (offload.MarkPartial), as the kernel's own receivers
	// trust them, instead of the stack dropping them as wrong.
	rxPartial bool
	txCsum    bool // the device completes TCP and UDP checksums
	tso       bool // the device segments GSOTCPv4 frames
	// tsoSegMax, when not zero, bounds a TSO segment with its Ethernet,
	// IP and TCP headers: net_tap (22.11) refuses a frame whose
	// segments with headers exceed the MTU, so full-sized segments are cut
	// in software there.
	tsoSegMax int

	closing atomic.Bool // Close has begun: no more device calls
	stopped atomic.Bool // the device is stopped and closed
	freed   sync.Once   // mempools freed
}

var (
	_ backend.Backend           = (*Port)(nil)
	_ backend.StatsReader       = (*Port)(nil)
	_ backend.DeviceStatsReader = (*Port)(nil)
	_ backend.Owner             = mbufOwner{}
)

// poolSeq makes mempool names unique in the process: a mempool whose mbufs
// are still lent outlives its port, and names are global to DPDK.
var poolSeq atomic.Uint32

// maxFrame is the longest frame Alloc makes: a 64 KiB IP packet behind an
// Ethernet header with two VLAN tags.
const maxFrame = 65535 + 14 + 8

// Open configures and starts the port cfg names: Queues queue pairs with a
// mempool each, RSS when there are several, and the offloads the device
// offers (see Caps). Init must have been called. Errors are one line that
// names the port and the cause; a port that fails to start is closed.
func Open(cfg Config) (*Port, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if err := requireEAL(); err != nil {
		return nil, err
	}
	id, name, err := findPort(cfg.Port)
	if err != nil {
		return nil, err
	}
	if eal.open[id] {
		return nil, fmt.Errorf("dpdk port %s: already open in this process", name)
	}
	p := &Port{cfg: cfg, id: id, name: name}
	if err := p.setup(); err != nil {
		p.abandon()
		return nil, err
	}
	eal.open[id] = true
	return p, nil
}

// findPort resolves a port id or name.
func findPort(s string) (uint16, string, error) {
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		if C.us_port_name(C.uint16_t(n), &buf[0], C.size_t(len(buf))) == 1 {
			return uint16(n), C.GoString(&buf[0]), nil
		}
		return 0, "", fmt.Errorf("dpdk: no port %s %s", s, portList())
	}
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var id C.uint16_t
	if C.us_port_by_name(cs, &id) < 0 {
		return 0, "", fmt.Errorf("dpdk: no port %q %s", s, portList())
	}
	return uint16(id), s, nil
}

// portList names the ports there are, for error messages.
func portList() string {
	var ids [64]C.uint16_t
	n := int(C.us_ports(&ids[0], C.int(len(ids))))
	if n == 0 {
		return "(there are no ports: add one to the EAL arguments with -a or --vdev)"
	}
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	var names []string
	for _, id := range ids[:min(n, len(ids))] {
		if C.us_port_name(id, &buf[0], C.size_t(len(buf))) == 1 {
			names = append(names, fmt.Sprintf("%d %s", id, C.GoString(&buf[0])))
		}
	}
	return "(ports: " + strings.Join(names, ", ") + ")"
}

func (p *Port) errorf(format string, args ...any) error {
	return fmt.Errorf("dpdk port "+p.name+": "+format, args...)
}

// Offload flags of the ethdev API, as Go values.
const (
	rxOffCsum    = uint64(C.RTE_ETH_RX_OFFLOAD_TCP_CKSUM | C.RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
	rxOffIPCsum  = uint64(C.RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
	rxOffRSSHash = uint64(C.RTE_ETH_RX_OFFLOAD_RSS_HASH)
	rxOffScatter = uint64(C.RTE_ETH_RX_OFFLOAD_SCATTER)
	txOffCsum    = uint64(C.RTE_ETH_TX_OFFLOAD_TCP_CKSUM | C.RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
	txOffIPCsum  = uint64(C.RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
	txOffTSO     = uint64(C.RTE_ETH_TX_OFFLOAD_TCP_TSO)
	txOffSegs    = uint64(C.RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
	rssWanted    = uint64(C.RTE_ETH_RSS_IP | C.RTE_ETH_RSS_TCP | C.RTE_ETH_RSS_UDP)
)

// setup configures the port, its queues and mempools, and starts it. On
// error, abandon undoes what it did.
func (p *Port) setup() error {
	cfg := &p.cfg
	var info C.struct_rte_eth_dev_info
	if r := C.us_dev_info(C.uint16_t(p.id), &info); r < 0 {
		return p.errorf("device info: %v", syscall.Errno(-r))
	}
	p.drvName = C.GoString(info.driver_name)
	p.dev = info.device
	if maxq := min(int(info.max_rx_queues), int(info.max_tx_queues)); cfg.Queues > maxq {
		return p.errorf("%d queues requested, the device (%s) has at most %d", cfg.Queues, p.drvName, maxq)
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = int(C.RTE_ETHER_MTU)
	}
	if mtu < int(info.min_mtu) || mtu > int(info.max_mtu) {
		return p.errorf("mtu %d: the device (%s) takes %d to %d", mtu, p.drvName, info.min_mtu, info.max_mtu)
	}
	// rte_eth_dev_configure also checks the frame the MTU makes against the
	// device's longest, with this overhead, and says only "invalid
	// argument": say it in the device's terms first.
	overhead := int(C.RTE_ETHER_HDR_LEN + C.RTE_ETHER_CRC_LEN)
	if info.max_mtu != 0xffff && int(info.max_rx_pktlen) > int(info.max_mtu) {
		overhead = int(info.max_rx_pktlen) - int(info.max_mtu)
	}
	if most := int(info.max_rx_pktlen) - overhead; mtu > most {
		return p.errorf("mtu %d: the device (%s) receives frames of at most %d bytes, an MTU of at most %d", mtu, p.drvName, info.max_rx_pktlen, most)
	}
	p.bufLen = int(C.RTE_MBUF_DEFAULT_BUF_SIZE)
	p.dataRoom = p.bufLen - int(C.RTE_PKTMBUF_HEADROOM)

	rxCapa, txCapa := uint64(info.rx_offload_capa), uint64(info.tx_offload_capa)
	var rxOff, txOff uint64
	rss := cfg.Queues > 1 && uint64(info.flow_type_rss_offloads)&rssWanted != 0
	rssHF := uint64(info.flow_type_rss_offloads) & rssWanted
	p.rxPartial = p.drvName == "net_af_packet" || p.drvName == "net_pcap"
	if rxCapa&rxOffCsum == rxOffCsum {
		p.rxCsum = true
		rxOff |= rxOffCsum | rxCapa&rxOffIPCsum
	}
	if rss && rxCapa&rxOffRSSHash != 0 {
		rxOff |= rxOffRSSHash
	}
	if mtu+14+8 > p.dataRoom {
		if rxCapa&rxOffScatter == 0 {
			return p.errorf("mtu %d needs frames longer than one %d-byte mbuf and the device (%s) cannot receive into chains", mtu, p.dataRoom, p.drvName)
		}
		rxOff |= rxOffScatter
	}
	txOff |= txCapa & txOffSegs
	if txCapa&txOffCsum == txOffCsum {
		p.txCsum = true
		txOff |= txOffCsum
		if txCapa&(txOffTSO|txOffIPCsum) == txOffTSO|txOffIPCsum {
			p.tso = true
			txOff |= txOffTSO | txOffIPCsum
			if p.drvName == "net_tap" {
				p.tsoSegMax = mtu
			}
		}
	}
	if r := C.us_configure(C.uint16_t(p.id), C.uint16_t(cfg.Queues), cbool(rss), C.uint64_t(rssHF),
		C.uint64_t(rxOff), C.uint64_t(txOff), C.uint32_t(cfg.MTU)); r < 0 {
		return p.errorf("configure %d queues (rx offloads %#x, tx offloads %#x): %v", cfg.Queues, rxOff, txOff, syscall.Errno(-r))
	}
	rxd, txd := C.uint16_t(cfg.RxDesc), C.uint16_t(cfg.TxDesc)
	if r := C.us_adjust_desc(C.uint16_t(p.id), &rxd, &txd); r < 0 {
		return p.errorf("descriptor counts %d/%d: %v", cfg.RxDesc, cfg.TxDesc, syscall.Errno(-r))
	}
	p.rxd, p.txd = int(rxd), int(txd)
	if need := p.rxd + p.txd + (2+stashBursts)*cfg.Burst + cfg.MbufCache; cfg.Mbufs < need {
		return p.errorf("%d mbufs per queue are too few: %d rx and %d tx descriptors, %d bursts of %d and a cache of %d need at least %d",
			cfg.Mbufs, p.rxd, p.txd, 2+stashBursts, cfg.Burst, cfg.MbufCache, need)
	}
	if cfg.MAC != nil && p.drvName != "net_tap" {
		// net_tap's address is its kernel netdev's, and setting it sets
		// both: describe gives the stack an address of its own instead.
		var mac [6]C.uint8_t
		for i, b := range cfg.MAC {
			mac[i] = C.uint8_t(b)
		}
		if r := C.us_mac_set(C.uint16_t(p.id), &mac[0]); r < 0 {
			return p.errorf("set mac %v: %v", cfg.MAC, syscall.Errno(-r))
		}
	}
	if cfg.Promiscuous {
		if r := C.us_promisc(C.uint16_t(p.id), 1); r < 0 {
			return p.errorf("promiscuous mode: %v", syscall.Errno(-r))
		}
	} else if r := C.us_allmulti(C.uint16_t(p.id)); r < 0 {
		// IPv6 lives on multicast: Neighbor Discovery asks for our
		// addresses at their solicited-node groups, routers advertise to
		// all nodes. A NIC drops the groups it was not told of; the
		// stack filters them itself.
		return p.errorf("all-multicast mode: %v", syscall.Errno(-r))
	}
	socket := C.int(C.rte_eth_dev_socket_id(C.uint16_t(p.id)))
	seq := poolSeq.Add(1)
	for q := range cfg.Queues {
		name := C.CString(fmt.Sprintf("ust%d_%d_%d", seq, p.id, q))
		var e C.int
		o0, o1 := ownerWords()
		mp := C.us_pool_create(name, C.uint(cfg.Mbufs), C.uint(cfg.MbufCache), C.uint16_t(p.bufLen), socket, o0, o1, &e)
		C.free(unsafe.Pointer(name))
		if mp == nil {
			hint := ""
			if syscall.Errno(-e) == syscall.ENOMEM {
				hint = " (raise the EAL's -m or use fewer mbufs)"
			}
			return p.errorf("mempool of %d mbufs for queue %d: %v%s", cfg.Mbufs, q, syscall.Errno(-e), hint)
		}
		p.queues = append(p.queues, newQueue(p, q, mp))
		p.touched = true
		if r := C.us_queue_setup(C.uint16_t(p.id), C.uint16_t(q), rxd, txd, socket, mp); r < 0 {
			return p.errorf("set up queue %d (%d rx, %d tx descriptors): %v", q, rxd, txd, syscall.Errno(-r))
		}
	}
	if r := C.us_start(C.uint16_t(p.id)); r < 0 {
		return p.errorf("start: %v", syscall.Errno(-r))
	}
	return p.describe(rss, &info)
}

// tapStackMAC is the stack's address on a net_tap port whose device (and
// kernel netdev) has address dev: given, the configured one; otherwise
// dev with the locally administered bit set and the last bit of its last
// byte flipped. net_tap passes up every frame the kernel sends, whatever
// its destination, so the stack needs no help from the device to take an
// address of its own, and each end of the link keeps its own, as IPv6's
// link-local addresses need.
func tapStackMAC(dev, configured net.HardwareAddr) net.HardwareAddr {
	if configured != nil {
		return configured
	}
	own := slices.Clone(dev)
	own[0] = own[0]&^0x01 | 0x02
	own[5] ^= 0x01
	return own
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// describe fills Caps once the port runs.
func (p *Port) describe(rss bool, info *C.struct_rte_eth_dev_info) error {
	var mac [6]C.uint8_t
	if r := C.us_mac_get(C.uint16_t(p.id), &mac[0]); r < 0 {
		return p.errorf("read mac: %v", syscall.Errno(-r))
	}
	var mtu C.uint16_t
	if r := C.us_mtu_get(C.uint16_t(p.id), &mtu); r < 0 {
		return p.errorf("read mtu: %v", syscall.Errno(-r))
	}
	addr := net.HardwareAddr{byte(mac[0]), byte(mac[1]), byte(mac[2]), byte(mac[3]), byte(mac[4]), byte(mac[5])}
	if p.drvName == "net_tap" {
		addr = tapStackMAC(addr, p.cfg.MAC)
	}
	p.caps = backend.Caps{
		Name:     p.name,
		MAC:      addr,
		MTU:      int(mtu),
		Queues:   p.cfg.Queues,
		BufSize:  p.dataRoom,
		Buffers:  p.cfg.Mbufs,
		BusyPoll: true,
		Offloads: backend.Offloads{
			RxCsum: p.rxCsum,
			TxCsum: p.txCsum,
			TSO:    p.tso,
		},
	}
	if p.tso {
		// One TSO frame is at most a 64 KiB IP packet, in as many mbufs
		// as the device takes in one packet.
		p.caps.Offloads.TSOMax = min(65535, int(info.tx_desc_lim.nb_seg_max)*p.dataRoom-14)
	}
	if rss {
		p.caps.Steering = backend.SteerOpaque
		p.describeRSS(info)
	}
	return nil
}

// describeRSS reads the RSS key and redirection table; when the device
// gives both, steering is a Toeplitz hash the stack can compute. DPDK
// 22.11 cannot tell the hash function, and Toeplitz is every driver's
// default.
func (p *Port) describeRSS(info *C.struct_rte_eth_dev_info) {
	size := uint16(info.reta_size)
	if size == 0 || size > 512 {
		return
	}
	// Spread the table evenly over our queues; a device that refuses
	// keeps its default, which we read back either way.
	C.us_reta_spread(C.uint16_t(p.id), C.uint16_t(size), C.uint16_t(p.cfg.Queues))
	table := make([]C.uint16_t, size)
	if C.us_reta_query(C.uint16_t(p.id), C.uint16_t(size), &table[0]) < 0 {
		return
	}
	keyLen := int(info.hash_key_size)
	if keyLen == 0 {
		keyLen = 40 // the common size; devices that report 0 use it
	}
	key := make([]C.uint8_t, 64)
	var hf C.uint64_t
	if keyLen > len(key) || C.us_rss_get(C.uint16_t(p.id), &key[0], C.uint8_t(len(key)), &hf) < 0 {
		return
	}
	k := make([]byte, keyLen)
	zero := true
	for i := range k {
		k[i] = byte(key[i])
		zero = zero && k[i] == 0
	}
	if zero {
		return
	}
	t := make([]uint16, size)
	for i, v := range table {
		t[i] = uint16(v)
	}
	p.caps.Steering = backend.SteerToeplitz
	p.caps.ToeplitzKey = k
	p.caps.ToeplitzTable = t
	p.caps.ToeplitzFields = hashFields(uint64(hf))
}

// hashFields maps DPDK's RSS hash types to backend.HashFields.
func hashFields(hf uint64) backend.HashFields {
	var f backend.HashFields
	if hf&uint64(C.RTE_ETH_RSS_IPV4|C.RTE_ETH_RSS_FRAG_IPV4|C.RTE_ETH_RSS_NONFRAG_IPV4_OTHER) != 0 {
		f |= backend.HashIPv4
	}
	if hf&uint64(C.RTE_ETH_RSS_NONFRAG_IPV4_TCP) != 0 {
		f |= backend.HashTCPv4
	}
	if hf&uint64(C.RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0 {
		f |= backend.HashUDPv4
	}
	if hf&uint64(C.RTE_ETH_RSS_IPV6|C.RTE_ETH_RSS_FRAG_IPV6|C.RTE_ETH_RSS_NONFRAG_IPV6_OTHER) != 0 {
		f |= backend.HashIPv6
	}
	if hf&uint64(C.RTE_ETH_RSS_NONFRAG_IPV6_TCP) != 0 {
		f |= backend.HashTCPv6
	}
	if hf&uint64(C.RTE_ETH_RSS_NONFRAG_IPV6_UDP) != 0 {
		f |= backend.HashUDPv6
	}
	return f
}

// abandon undoes a failed setup. Once queues are set up the device may
// hold mbufs of our mempools, so it is stopped, closed and detached (as
// Close does) before they are freed; before that the port is left
// configured but usable for another Open.
func (p *Port) abandon() {
	if p.touched {
		C.us_stop(C.uint16_t(p.id))
		if C.us_close(C.uint16_t(p.id)) == 0 {
			C.us_dev_release(p.dev)
		}
	}
	p.closing.Store(true)
	p.stopped.Store(true)
	for _, q := range p.queues {
		q.closed = true
		q.freeArrays()
	}
	p.maybeFreePools()
}

// Caps implements backend.Backend.
func (p *Port) Caps() backend.Caps { return p.caps }

// Name is the port's ethdev name.
func (p *Port) Name() string { return p.name }

// ID is the port's ethdev id.
func (p *Port) ID() uint16 { return p.id }

// Driver is the name of the port's poll-mode driver ("net_tap").
func (p *Port) Driver() string { return p.drvName }

// Config is the configuration the port was opened with, its defaults
// filled in.
func (p *Port) Config() Config { return p.cfg }

func (p *Port) queue(q int) (*queue, error) {
	if q < 0 || q >= len(p.queues) {
		return nil, backend.ErrQueue
	}
	return p.queues[q], nil
}

// ThreadInit prepares the calling goroutine to drive queue q: call it at
// the start of each queue loop, after runtime.LockOSThread. It registers
// the OS thread as a DPDK lcore (RegisterThread), so the queue's mempool
// cache is used; the thread that called Init already is one.
//
// When the EAL has at least as many lcores (-l) as the port has queues,
// it also binds the thread to the CPUs of queue q's lcore, as a DPDK
// application runs each queue on a core of its own: the worker lcores in
// order when there are more lcores than queues (the main one is left to
// the application), every lcore, the main one first, when there are as
// many. With fewer lcores the thread stays where the Go runtime puts it
// (Pinned says which). Call ThreadExit on the same thread when the loop
// ends.
func (p *Port) ThreadInit(q int) error {
	qu, err := p.queue(q)
	if err != nil {
		return err
	}
	if err := RegisterThread(); err != nil {
		return err
	}
	if qu.lcore.Load() >= 0 {
		return nil // bound already
	}
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return p.errorf("queue %d: read the thread's CPUs: %v", q, err)
	}
	if lc := C.us_pin_queue(C.uint(q), C.uint(p.cfg.Queues)); lc >= 0 {
		qu.before = before
		qu.lcore.Store(int32(lc))
	}
	return nil
}

// ThreadExit undoes ThreadInit at the end of queue q's loop, on the same
// thread before it is unlocked: the thread gets back the CPUs it had, so
// that Go may run anything on it again, and its lcore (UnregisterThread),
// of which DPDK has RTE_MAX_LCORE.
func (p *Port) ThreadExit(q int) {
	qu, err := p.queue(q)
	if err != nil {
		return
	}
	if qu.lcore.Swap(-1) >= 0 {
		unix.SchedSetaffinity(0, &qu.before)
	}
	UnregisterThread()
}

// Pinned reports the lcore whose CPUs queue q's loop is bound to, once
// ThreadInit has run there, and false when it is not bound.
func (p *Port) Pinned(q int) (lcore int, ok bool) {
	qu, err := p.queue(q)
	if err != nil {
		return 0, false
	}
	lc := qu.lcore.Load()
	return int(lc), lc >= 0
}

// Lcores is how many lcores the EAL runs (-l): Open's ports bind their
// queue loops to them when they have no more queues than this.
func Lcores() int { return int(C.us_lcore_count()) }

// Outstanding implements backend.Backend: mbufs lent by Recv or allocated
// by Alloc and not yet released or sent.
func (p *Port) Outstanding() int {
	n := int64(0)
	for _, q := range p.queues {
		n += q.out.Load()
	}
	return int(n)
}

// Link reports the link state without waiting (rte_eth_link_get_nowait).
func (p *Port) Link() (Link, error) {
	if p.stopped.Load() {
		return Link{}, backend.ErrClosed
	}
	var speed C.uint32_t
	var up, full, auto C.int
	if r := C.us_link(C.uint16_t(p.id), &speed, &up, &full, &auto); r < 0 {
		return Link{}, p.errorf("link: %v", syscall.Errno(-r))
	}
	return Link{Up: up != 0, SpeedMbps: uint32(speed), FullDuplex: full != 0, Autoneg: auto != 0}, nil
}

// Close implements backend.Backend. It takes back the frames waiting in
// the receive rings, stops and closes the device (rte_eth_dev_stop,
// rte_eth_dev_close: DPDK then releases the port) and detaches it
// (rte_dev_remove) unless it has other ports, so that Probe can attach it
// again; a net_tap device takes its kernel netdev with it. On a RingPair
// port whose other port is not open, it frees what it sent that nobody
// received. The mempools
// are freed once every lent or allocated frame is back and no other port
// holds their mbufs: at once when Outstanding is zero and the mbufs are
// all home, otherwise when the last one is released, which may be after
// Close.
func (p *Port) Close() error {
	if !p.closing.CompareAndSwap(false, true) {
		return nil
	}
	for _, q := range p.queues {
		q.wake()
		q.mu.Lock()
		q.closed = true
		q.drain(p.rxd + p.txd + 4096)
		q.mu.Unlock()
	}
	var errs []error
	if r := C.us_stop(C.uint16_t(p.id)); r < 0 {
		errs = append(errs, p.errorf("stop: %v", syscall.Errno(-r)))
	}
	if r := C.us_close(C.uint16_t(p.id)); r < 0 {
		errs = append(errs, p.errorf("close: %v", syscall.Errno(-r)))
	} else if r := C.us_dev_release(p.dev); r < 0 {
		errs = append(errs, p.errorf("detach device: %v", syscall.Errno(-r)))
	}
	for _, q := range p.queues {
		q.mu.Lock()
		q.flushFree()
		q.freeArrays()
		q.mu.Unlock()
	}
	eal.mu.Lock()
	delete(eal.open, p.id)
	freeUnreceived(p.name)
	eal.mu.Unlock()
	p.stopped.Store(true)
	p.maybeFreePools()
	closedPorts.recheck() // this port's queues gave back other ports' mbufs
	return errors.Join(errs...)
}

// maybeFreePools frees the mempools once the device is gone, nothing the
// port lent is out and every mbuf is back in its mempool: another port
// may hold some (received from a ring both use) after this one closed.
// Until then the port waits in closedPorts.
func (p *Port) maybeFreePools() {
	if !p.stopped.Load() || p.Outstanding() != 0 {
		return
	}
	for _, q := range p.queues {
		q.mu.Lock()
		full := true
		if q.mp != nil {
			q.flushFree()
			full = C.rte_mempool_full(q.mp) != 0
		}
		q.mu.Unlock()
		if !full {
			closedPorts.add(p)
			return
		}
	}
	p.freed.Do(func() {
		for _, q := range p.queues {
			q.mu.Lock()
			q.freePool()
			q.mu.Unlock()
		}
	})
	closedPorts.remove(p)
}

// waitingPorts are closed ports whose mempools wait for mbufs that other
// ports hold.
type waitingPorts struct {
	mu    sync.Mutex
	n     atomic.Int32 // len(ports), read without mu on the data path
	ports []*Port
}

// closedPorts are the process's waiting ports. While one waits, a queue
// that takes back mbufs of a mempool not its own gives them back at once
// and lets the waiting ports check again (recheck), and so do an idle
// Wait and a Close.
var closedPorts waitingPorts

func (w *waitingPorts) add(p *Port) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.ports, p) {
		w.ports = append(w.ports, p)
		w.n.Store(int32(len(w.ports)))
	}
}

func (w *waitingPorts) remove(p *Port) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i := slices.Index(w.ports, p); i >= 0 {
		w.ports = slices.Delete(w.ports, i, i+1)
		w.n.Store(int32(len(w.ports)))
	}
}

// recheck frees the mempools of the waiting ports whose mbufs are all
// back.
func (w *waitingPorts) recheck() {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	ports := slices.Clone(w.ports)
	w.mu.Unlock()
	for _, p := range ports {
		p.maybeFreePools()
	}
}
