//go:build !dpdk

package dpdk

import "github.com/ustack/ustack/backend"

// This file is the package in a binary built without the dpdk build tag:
// the same API, with Init and Open refusing (ErrNotBuilt).

// Init would initialise DPDK's EAL; without DPDK it returns ErrNotBuilt.
func Init(ealArgs []string) error { return ErrNotBuilt }

// Cleanup would release the EAL; without DPDK there is none.
func Cleanup() error { return nil }

// Abandon would remove the EAL's runtime files; without DPDK there are
// none.
func Abandon() {}

// RegisterThread would make the calling thread a DPDK lcore; without DPDK
// it returns ErrNotBuilt.
func RegisterThread() error { return ErrNotBuilt }

// UnregisterThread would give back the calling thread's lcore.
func UnregisterThread() {}

// Probe would attach a DPDK device; without DPDK it returns ErrNotBuilt.
func Probe(devargs string) error { return ErrNotBuilt }

// Open would open a DPDK port; without DPDK it returns ErrNotBuilt.
func Open(cfg Config) (*Port, error) { return nil, ErrNotBuilt }

var (
	_ backend.Backend           = (*Port)(nil)
	_ backend.StatsReader       = (*Port)(nil)
	_ backend.DeviceStatsReader = (*Port)(nil)
)

// Port is an open DPDK port. Without DPDK none can be opened, and the
// methods of a nil Port report backend.ErrClosed.
type Port struct{}

// Caps implements backend.Backend.
func (p *Port) Caps() backend.Caps { return backend.Caps{} }

// Config is the configuration the port was opened with.
func (p *Port) Config() Config { return Config{} }

// Recv implements backend.Backend.
func (p *Port) Recv(q int, frames []*backend.Frame) (int, error) { return 0, backend.ErrClosed }

// Alloc implements backend.Backend.
func (p *Port) Alloc(q int, frames []*backend.Frame, size int) int { return 0 }

// Send implements backend.Backend.
func (p *Port) Send(q int, frames []*backend.Frame) (int, error) { return 0, backend.ErrClosed }

// Wait implements backend.Backend.
func (p *Port) Wait(q int, deadline int64) error { return backend.ErrClosed }

// Wake implements backend.Backend.
func (p *Port) Wake(q int) {}

// Outstanding implements backend.Backend.
func (p *Port) Outstanding() int { return 0 }

// Close implements backend.Backend.
func (p *Port) Close() error { return nil }

// QueueStats implements backend.StatsReader.
func (p *Port) QueueStats(q int) backend.QueueStats { return backend.QueueStats{} }

// DeviceStats implements backend.DeviceStatsReader.
func (p *Port) DeviceStats() (string, []backend.DeviceStat, error) { return "", nil, ErrNotBuilt }

// ThreadInit would prepare the calling goroutine to drive queue q.
func (p *Port) ThreadInit(q int) error { return ErrNotBuilt }

// ThreadExit would undo ThreadInit.
func (p *Port) ThreadExit(q int) {}

// Pinned would report the lcore queue q's loop is bound to.
func (p *Port) Pinned(q int) (lcore int, ok bool) { return 0, false }

// Lcores is how many lcores the EAL runs: none without DPDK.
func Lcores() int { return 0 }

// Name is the port's ethdev name.
func (p *Port) Name() string { return "" }

// ID is the port's ethdev id.
func (p *Port) ID() uint16 { return 0 }

// Driver is the name of the port's poll-mode driver.
func (p *Port) Driver() string { return "" }

// Link reports the link state.
func (p *Port) Link() (Link, error) { return Link{}, ErrNotBuilt }

// Stats reads the device's counters.
func (p *Port) Stats() (PortStats, error) { return PortStats{}, ErrNotBuilt }

// XStats reads the device's extended statistics.
func (p *Port) XStats() ([]XStat, error) { return nil, ErrNotBuilt }

// RingPair would make two ports joined by rings; without DPDK it returns
// ErrNotBuilt.
func RingPair(a, b string, queues, size int) (string, string, error) { return "", "", ErrNotBuilt }
