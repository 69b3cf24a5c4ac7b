package tap

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/ustack/ustack/backend"
)

// DefaultDevicePath is the TUN/TAP clone device of Linux.
const DefaultDevicePath = "/dev/net/tun"

// MaxQueues is the most queues a multi-queue TAP device has (the kernel's
// MAX_TAP_QUEUES).
const MaxQueues = 256

// OffloadMode selects between the virtio-net header fast path and plain
// Ethernet frames.
type OffloadMode string

const (
	// OffloadAuto tries the fast path and falls back to plain frames when
	// the kernel refuses it; Device.Offload says which it got and why.
	OffloadAuto OffloadMode = "auto"
	// OffloadOn insists on the fast path: Open fails if the kernel refuses.
	OffloadOn OffloadMode = "on"
	// OffloadOff uses plain frames: no checksum offload, no TSO, no GRO.
	OffloadOff OffloadMode = "off"
)

// Config describes the TAP device to open. Only Name is commonly set; the
// zero value of every other field picks a sensible default.
type Config struct {
	// Name of the device. An existing TAP device of that name is attached
	// to; otherwise the device is created and disappears again when the
	// Device is closed. Empty, or a pattern with "%d", lets the kernel pick
	// a name ("tap%d"); Caps().Name is the name it picked.
	Name string
	// MTU is the largest IP packet the link carries. Zero keeps the
	// device's MTU (1500 for a new device).
	MTU int
	// MAC is the stack's own address on the link, the source of the frames
	// it sends. It is not the kernel side's address (see Device.HostMAC).
	// Default: a random locally administered unicast address derived from
	// Seed.
	MAC net.HardwareAddr
	// Seed makes the default MAC deterministic; zero draws it from
	// crypto/rand.
	Seed uint64
	// Queues is the number of queue pairs (default 1). More than one opens
	// the device with IFF_MULTI_QUEUE, one file descriptor per queue.
	Queues int
	// Offload selects the virtio-net header fast path (default
	// OffloadAuto).
	Offload OffloadMode
	// Clock timestamps received frames and measures Wait deadlines;
	// default a backend.RealClock.
	Clock backend.Clock
	// PoolSize bounds the buffers of the device's pool (default 16384).
	PoolSize int
	// Poison fills released buffers with backend.PoisonByte, so that a use
	// after release reads garbage.
	Poison bool
	// HostAddrs are assigned to the kernel side of the link, so the host
	// can reach the stack through it: at most one IPv4 address (it
	// replaces the device's primary one) and any IPv6 addresses (added).
	HostAddrs []netip.Prefix
	// DevicePath is the clone device to open (default DefaultDevicePath).
	DevicePath string
}

const defaultPoolSize = 16384

// fill validates c and fills in its defaults.
func (c *Config) fill() error {
	name := c.Name
	if name == "" {
		name = "tap%d"
	}
	if err := checkName(name); err != nil {
		return err
	}
	c.Name = name
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return fmt.Errorf("tap %s: mtu %d out of range 68..65535", c.Name, c.MTU)
	}
	if c.Queues == 0 {
		c.Queues = 1
	}
	if c.Queues < 1 || c.Queues > MaxQueues {
		return fmt.Errorf("tap %s: queues %d out of range 1..%d", c.Name, c.Queues, MaxQueues)
	}
	switch c.Offload {
	case "":
		c.Offload = OffloadAuto
	case OffloadAuto, OffloadOn, OffloadOff:
	default:
		return fmt.Errorf("tap %s: offload mode %q is not auto, on or off", c.Name, c.Offload)
	}
	if c.PoolSize == 0 {
		c.PoolSize = defaultPoolSize
	}
	if c.PoolSize < 0 {
		return fmt.Errorf("tap %s: pool size %d is negative", c.Name, c.PoolSize)
	}
	if c.Clock == nil {
		c.Clock = backend.NewRealClock()
	}
	if c.MAC == nil {
		mac, err := randomMAC(c.Seed)
		if err != nil {
			return fmt.Errorf("tap %s: %w", c.Name, err)
		}
		c.MAC = mac
	}
	if len(c.MAC) != 6 || c.MAC[0]&1 != 0 {
		return fmt.Errorf("tap %s: mac %v is not a 6-byte unicast address", c.Name, c.MAC)
	}
	c.MAC = append(net.HardwareAddr(nil), c.MAC...)
	if err := CheckHostAddrs(c.HostAddrs); err != nil {
		return fmt.Errorf("tap %s: %w", c.Name, err)
	}
	if c.DevicePath == "" {
		c.DevicePath = DefaultDevicePath
	}
	return nil
}

// checkName applies the kernel's rules for interface names (dev_valid_name),
// so that a bad name is reported as such rather than as EINVAL from an
// ioctl, and so that it is safe in a /sys path.
func checkName(name string) error {
	switch {
	case len(name) >= 16:
		return fmt.Errorf("tap %s: name longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("tap %s: not a valid interface name", name)
	case strings.ContainsAny(name, "/: \t\n\r\x00"):
		return fmt.Errorf("tap %q: interface names cannot contain '/', ':' or white space", name)
	case strings.Count(name, "%") > 1 || (strings.Contains(name, "%") && !strings.Contains(name, "%d")):
		return fmt.Errorf("tap %s: the only pattern a name may hold is one %%d", name)
	}
	return nil
}

// randomMAC makes a locally administered unicast address (RFC 7042 §2.1):
// from seed when it is not zero, so a seeded run is reproducible, and from
// crypto/rand otherwise.
func randomMAC(seed uint64) (net.HardwareAddr, error) {
	var b [8]byte
	if seed != 0 {
		binary.LittleEndian.PutUint64(b[:], splitmix64(seed))
	} else if _, err := rand.Read(b[:6]); err != nil {
		return nil, fmt.Errorf("random mac: %w", err)
	}
	mac := net.HardwareAddr(b[:6:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac, nil
}

// splitmix64 is one step of Vigna's SplitMix64: it spreads a small seed
// (1, 2, 3) over all 64 bits, so neighbouring seeds give unrelated MACs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// CheckHostAddrs says whether addrs can all be the kernel side's addresses
// of one device (Config.HostAddrs): prefixes without a zone, at most one
// of them IPv4.
func CheckHostAddrs(addrs []netip.Prefix) error {
	v4 := 0
	for _, p := range addrs {
		switch {
		case !p.IsValid():
			return fmt.Errorf("host address %v is not a prefix", p)
		case p.Addr().Zone() != "":
			return fmt.Errorf("host address %v has a zone", p)
		case p.Addr().Unmap().Is4():
			if v4++; v4 > 1 {
				return fmt.Errorf("host address %v: a device takes one IPv4 host address", p)
			}
		}
	}
	return nil
}
