//go:build dpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#include "ustack_dpdk.h"
*/
import "C"

import (
	"syscall"
	"unsafe"

	"github.com/ustack/ustack/backend"
)

// QueueStats implements backend.StatsReader from the port's own counters:
// RxDrops are received mbufs of another mempool that could not be copied
// for want of an mbuf (the device counts its own drops: Stats().IMissed);
// TxDrops are frames Send accepted but could not send.
func (p *Port) QueueStats(q int) backend.QueueStats {
	qu, err := p.queue(q)
	if err != nil {
		return backend.QueueStats{}
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	s := qu.stats
	if qu.cq != nil {
		s.RxDrops += uint64(qu.cq.nobuf)
	}
	return s
}

// Stats reads the device's counters (rte_eth_stats_get).
func (p *Port) Stats() (PortStats, error) {
	if p.stopped.Load() {
		return PortStats{}, backend.ErrClosed
	}
	var s C.struct_rte_eth_stats
	if r := C.us_stats(C.uint16_t(p.id), &s); r < 0 {
		return PortStats{}, p.errorf("stats: %v", syscall.Errno(-r))
	}
	return PortStats{
		IPackets: uint64(s.ipackets),
		OPackets: uint64(s.opackets),
		IBytes:   uint64(s.ibytes),
		OBytes:   uint64(s.obytes),
		IMissed:  uint64(s.imissed),
		IErrors:  uint64(s.ierrors),
		OErrors:  uint64(s.oerrors),
		RxNoMbuf: uint64(s.rx_nombuf),
	}, nil
}

// XStats reads the device's extended statistics (rte_eth_xstats_get_names
// and rte_eth_xstats_get), in the device's order.
func (p *Port) XStats() ([]XStat, error) {
	if p.stopped.Load() {
		return nil, backend.ErrClosed
	}
	for range 3 {
		n := int(C.us_xstats_names(C.uint16_t(p.id), nil, 0))
		if n < 0 {
			return nil, p.errorf("xstats: %v", syscall.Errno(-n))
		}
		if n == 0 {
			return nil, nil
		}
		names := cArray[C.struct_rte_eth_xstat_name](n)
		vals := cArray[C.struct_rte_eth_xstat](n)
		got := int(C.us_xstats_names(C.uint16_t(p.id), &names[0], C.uint(n)))
		gotv := int(C.us_xstats(C.uint16_t(p.id), &vals[0], C.uint(n)))
		if got != n || gotv != n {
			// The set changed between the calls: ask again.
			cFree(names)
			cFree(vals)
			if got < 0 || gotv < 0 {
				return nil, p.errorf("xstats: %v", syscall.Errno(-min(got, gotv)))
			}
			continue
		}
		out := make([]XStat, n)
		for i, v := range vals {
			out[i] = XStat{Value: uint64(v.value)}
			if id := int(v.id); id >= 0 && id < n {
				out[i].Name = C.GoString((*C.char)(unsafe.Pointer(&names[id].name[0])))
			}
		}
		cFree(names)
		cFree(vals)
		return out, nil
	}
	return nil, p.errorf("xstats: the set keeps changing")
}

// DeviceStats implements backend.DeviceStatsReader: the link (link_up,
// link_speed_mbps, as gauges) and every extended statistic (XStats, which
// include the basic rte_eth_stats as rx_good_packets, rx_missed_errors and
// so on), of kind "dpdk".
func (p *Port) DeviceStats() (string, []backend.DeviceStat, error) {
	l, err := p.Link()
	if err != nil {
		return "dpdk", nil, err
	}
	xs, err := p.XStats()
	if err != nil {
		return "dpdk", nil, err
	}
	up := uint64(0)
	if l.Up {
		up = 1
	}
	out := make([]backend.DeviceStat, 0, len(xs)+2)
	out = append(out,
		backend.DeviceStat{Name: "link_up", Value: up, Gauge: true},
		backend.DeviceStat{Name: "link_speed_mbps", Value: uint64(l.SpeedMbps), Gauge: true})
	for _, x := range xs {
		out = append(out, backend.DeviceStat{Name: x.Name, Value: x.Value})
	}
	return "dpdk", out, nil
}
