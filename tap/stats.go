package tap

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ustack/ustack/backend"
)

// kernelStats are the kernel's counters of the device that DeviceStats
// reports, under the kernel's names for them, seen from the kernel's side
// of the link: what it transmits, the stack receives.
var kernelStats = [...]string{
	"tx_packets", "tx_bytes", "tx_dropped",
	"rx_packets", "rx_bytes", "rx_dropped",
}

// DeviceStats implements backend.DeviceStatsReader: the kernel's counters
// of the device (kind "tap", names prefixed "kernel_") and the length of
// its transmit queue (kernel_tx_queue_len, a gauge). kernel_tx_dropped
// counts the frames the kernel dropped because the stack had not read the
// tx_queue_len frames waiting on one of its queues: each costs the sender
// a retransmission, so a stack that many peers talk to at once wants a
// longer queue (ip link set DEV txqueuelen N). It reads them from the
// kernel's sysfs, so a device moved to another network namespace than the
// sysfs mounted has none.
func (d *Device) DeviceStats() (string, []backend.DeviceStat, error) {
	if d.closed.Load() {
		return "tap", nil, d.errorf("statistics", os.ErrClosed)
	}
	dir := filepath.Join(sysClassNet, d.caps.Name)
	out := make([]backend.DeviceStat, 0, len(kernelStats)+1)
	qlen, err := readCount(filepath.Join(dir, "tx_queue_len"))
	if err != nil {
		return "tap", nil, d.errorf("statistics", err)
	}
	out = append(out, backend.DeviceStat{Name: "kernel_tx_queue_len", Value: qlen, Gauge: true})
	for _, s := range kernelStats {
		v, err := readCount(filepath.Join(dir, "statistics", s))
		if err != nil {
			return "tap", nil, d.errorf("statistics", err)
		}
		out = append(out, backend.DeviceStat{Name: "kernel_" + s, Value: v})
	}
	return "tap", out, nil
}

// readCount reads a file holding one decimal number.
func readCount(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}
