package tap

import (
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkState is what configureLink leaves the kernel side of the link with.
type linkState struct {
	mtu     int
	hostMAC net.HardwareAddr
}

// configureLink sets the MTU, assigns the host address and brings the link
// up, with the classic interface ioctls on an AF_INET socket (netdevice(7)):
// they need no netlink code and no ip(8) binary.
func configureLink(cfg *Config, name string) (linkState, error) {
	var st linkState
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return st, refuse(name, err, "control socket: %v", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return st, refuse(name, err, "name too long")
	}
	if cfg.MTU != 0 {
		ifr.SetUint32(uint32(cfg.MTU))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			return st, refuse(name, err, "set mtu %d: %v", cfg.MTU, err)
		}
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
		return st, refuse(name, err, "get mtu: %v", err)
	}
	st.mtu = int(ifr.Uint32())
	for _, p := range cfg.HostAddrs {
		if err := setHostAddr(s, name, p); err != nil {
			return st, err
		}
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return st, refuse(name, err, "get flags: %v", err)
	}
	if flags := ifr.Uint16(); flags&unix.IFF_UP == 0 {
		ifr.SetUint16(flags | unix.IFF_UP)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
			return st, refuse(name, err, "set link up: %v", err)
		}
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return st, refuse(name, err, "read back: %v", err)
	}
	st.hostMAC = ifi.HardwareAddr
	return st, nil
}

// setHostAddr assigns p to the kernel side. An IPv4 address replaces the
// device's primary IPv4 address (SIOCSIFADDR); an IPv6 address is added.
func setHostAddr(s4 int, name string, p netip.Prefix) error {
	addr := p.Addr()
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if addr.Is4() {
		bits := p.Bits()
		if bits > 32 {
			bits -= 96
		}
		ifr, _ := unix.NewIfreq(name)
		a := addr.As4()
		if err := ifr.SetInet4Addr(a[:]); err != nil {
			return refuse(name, err, "host address %v: %v", p, err)
		}
		if err := unix.IoctlIfreq(s4, unix.SIOCSIFADDR, ifr); err != nil {
			return refuse(name, err, "host address %v: %v", p, err)
		}
		// The netmask after the address: SIOCSIFADDR gives a new address
		// its classful mask, and this replaces it and its prefix route.
		if err := ifr.SetInet4Addr(net.CIDRMask(bits, 32)); err != nil {
			return refuse(name, err, "host address %v: %v", p, err)
		}
		if err := unix.IoctlIfreq(s4, unix.SIOCSIFNETMASK, ifr); err != nil {
			return refuse(name, err, "host prefix %v: %v", p, err)
		}
		return nil
	}
	ifr, _ := unix.NewIfreq(name)
	if err := unix.IoctlIfreq(s4, unix.SIOCGIFINDEX, ifr); err != nil {
		return refuse(name, err, "interface index: %v", err)
	}
	s6, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return refuse(name, err, "host address %v: IPv6 socket: %v", p, err)
	}
	defer unix.Close(s6)
	// struct in6_ifreq (linux/ipv6.h): IPv6 addresses have no slot in
	// struct ifreq.
	req := struct {
		addr      [16]byte
		prefixLen uint32
		ifindex   int32
	}{addr: addr.As16(), prefixLen: uint32(p.Bits()), ifindex: int32(ifr.Uint32())}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s6), unix.SIOCSIFADDR, uintptr(unsafe.Pointer(&req)))
	if e != 0 && !errors.Is(e, unix.EEXIST) {
		return refuse(name, e, "host address %v: %v", p, e)
	}
	return nil
}
