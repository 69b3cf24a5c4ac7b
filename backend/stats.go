package backend

// QueueStats are a queue's counters, as a backend keeps them.
type QueueStats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	// RxDrops: frames the device dropped before the stack saw them (ring
	// full, no buffer). TxDrops: frames accepted by Send but not carried
	// (oversize, link queue full).
	RxDrops, TxDrops uint64
	// EmptyPolls: Recv calls that returned nothing. Bursts: calls that did.
	EmptyPolls, Bursts uint64
	// AllocFails: Alloc calls the pool could not satisfy in full.
	AllocFails uint64
}

// Add adds o's counters to s.
func (s *QueueStats) Add(o QueueStats) {
	s.RxPackets += o.RxPackets
	s.RxBytes += o.RxBytes
	s.TxPackets += o.TxPackets
	s.TxBytes += o.TxBytes
	s.RxDrops += o.RxDrops
	s.TxDrops += o.TxDrops
	s.EmptyPolls += o.EmptyPolls
	s.Bursts += o.Bursts
	s.AllocFails += o.AllocFails
}

// StatsReader is implemented by backends that count per queue.
type StatsReader interface {
	QueueStats(q int) QueueStats
}

// DeviceStat is one of a device's own statistics, under the device's name
// for it (DPDK's xstats: rx_good_packets, rx_missed_errors, ...).
type DeviceStat struct {
	Name  string
	Value uint64
	// Gauge marks a level (link up, link speed) rather than a counter.
	Gauge bool
}

// DeviceStatsReader is implemented by backends whose device keeps
// statistics of its own, and by middleware in front of one.
type DeviceStatsReader interface {
	// DeviceStats reads the device's statistics now. Kind names the
	// device's family ("dpdk"), a prefix for the statistics' names. A
	// backend in front of a device without statistics returns no kind.
	DeviceStats() (kind string, stats []DeviceStat, err error)
}

// Wrapper is implemented by middleware: the backend it wraps, so that a
// reader of statistics finds the layers below (the fault counters under a
// capture, say).
type Wrapper interface {
	Inner() Backend
}

// FaultStatsReader is implemented by fault-injection middleware: what it
// did to the frames that crossed it, in each direction, under names like
// DeviceStat's.
type FaultStatsReader interface {
	FaultStats() (rx, tx []DeviceStat)
}
