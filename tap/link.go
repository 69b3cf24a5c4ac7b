package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

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
	if err := addAddr6(int(ifr.Uint32()), p); err != nil && !errors.Is(err, unix.EEXIST) {
		return refuse(name, err, "host address %v: %v", p, err)
	}
	return nil
}

// addAddr6 adds the IPv6 address p to interface ifindex with one netlink
// RTM_NEWADDR, flagged IFA_F_NODAD: the link joins only the kernel and
// ustack, and ustack's own duplicate address detection still finds a
// clash, since the kernel answers for an address it holds. The ioctl
// (SIOCSIFADDR on struct in6_ifreq) cannot pass the flag, and its address
// stayed tentative, unusable for connections, for about a second.
func addAddr6(ifindex int, p netip.Prefix) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	a := p.Addr().As16()
	msg := make([]byte, 0, 80)
	msg = binary.NativeEndian.AppendUint32(msg, 0) // nlmsg_len, set below
	msg = binary.NativeEndian.AppendUint16(msg, unix.RTM_NEWADDR)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg = binary.NativeEndian.AppendUint32(msg, 1) // nlmsg_seq
	msg = binary.NativeEndian.AppendUint32(msg, 0) // nlmsg_pid: the kernel
	// struct ifaddrmsg
	msg = append(msg, unix.AF_INET6, uint8(p.Bits()), unix.IFA_F_NODAD, unix.RT_SCOPE_UNIVERSE)
	msg = binary.NativeEndian.AppendUint32(msg, uint32(ifindex))
	for _, attr := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		msg = binary.NativeEndian.AppendUint16(msg, unix.SizeofRtAttr+16)
		msg = binary.NativeEndian.AppendUint16(msg, attr)
		msg = append(msg, a[:]...)
	}
	binary.NativeEndian.PutUint32(msg, uint32(len(msg)))
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != 1 || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("netlink answer: short error message")
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
}
