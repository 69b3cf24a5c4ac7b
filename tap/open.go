package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// openError is what Open returns when the kernel refuses: a message that
// names the device and says what to do, wrapping the cause (usually a
// syscall.Errno) so that errors.Is(err, syscall.EBUSY) or
// errors.Is(err, os.ErrPermission) work.
type openError struct {
	name string
	msg  string
	err  error
}

func (e *openError) Error() string { return "tap " + e.name + ": " + e.msg }
func (e *openError) Unwrap() error { return e.err }

func refuse(name string, err error, format string, args ...any) error {
	return &openError{name: name, msg: fmt.Sprintf(format, args...), err: err}
}

// fastPathError says why the kernel refused the virtio-net header fast
// path; Open falls back to plain frames on it when the mode is auto.
type fastPathError struct {
	step string
	err  error
}

func (e *fastPathError) Error() string {
	return "vnet header fast path refused: " + e.step + ": " + e.err.Error()
}
func (e *fastPathError) Unwrap() error { return e.err }

// sysClassNet is where the kernel lists network devices; tun_flags there
// holds a TUN/TAP device's IFF_* flags.
const sysClassNet = "/sys/class/net/"

// probe looks for an existing device called name before we attach to it,
// because attaching must use the flags it was created with: TUNSETIFF
// refuses (EINVAL) to attach to a multi-queue device without
// IFF_MULTI_QUEUE and the reverse. It reports whether the device exists and
// whether to open it multi-queue.
func probe(cfg *Config) (existed, multiQueue bool, err error) {
	name := cfg.Name
	multiQueue = cfg.Queues > 1
	if strings.Contains(name, "%") {
		return false, multiQueue, nil
	}
	b, err := os.ReadFile(sysClassNet + name + "/tun_flags")
	if err == nil {
		flags, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 32)
		if perr != nil {
			return true, false, refuse(name, perr, "unreadable tun_flags %q", strings.TrimSpace(string(b)))
		}
		if flags&unix.IFF_TAP == 0 {
			return true, false, refuse(name, unix.EINVAL, "exists and is a TUN device, not TAP")
		}
		multiQueue = flags&unix.IFF_MULTI_QUEUE != 0
		if cfg.Queues > 1 && !multiQueue {
			return true, false, refuse(name, unix.EINVAL, "exists without multi_queue; cannot open %d queues", cfg.Queues)
		}
		return true, multiQueue, nil
	}
	if _, serr := os.Stat(sysClassNet + name); serr == nil {
		return true, false, refuse(name, unix.EINVAL, "exists and is not a TAP device")
	}
	if _, serr := os.Stat(sysClassNet); serr != nil {
		// No sysfs (a minimal container): we can tell that the device
		// exists, not how it was made, so assume it matches Queues.
		if _, ierr := net.InterfaceByName(name); ierr == nil {
			return true, multiQueue, nil
		}
	}
	return false, multiQueue, nil
}

// fastOffloads are the TUNSETOFFLOAD flags of the fast path: what the
// kernel may hand us, frames with a partial checksum and TCP frames of up to
// 64 KiB. We do not take TSO_ECN or USO, so the kernel segments those
// itself.
const fastOffloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6

// openQueues opens the clone device once per queue and attaches each file
// descriptor to the device. It returns the descriptors and the device's
// name (the kernel's pick when cfg.Name is a pattern). With vnet it sets up
// the fast path asking for offloads; a *fastPathError means the kernel
// refused, and the descriptors are then closed.
func openQueues(cfg *Config, multiQueue, vnet bool, offloads int) (fds []int, name string, err error) {
	name = cfg.Name
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
		}
	}()
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if multiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	for i := range cfg.Queues {
		// O_NONBLOCK: Recv reads until EAGAIN and Wait does the blocking,
		// in poll, where a Wake can interrupt it.
		fd, err := unix.Open(cfg.DevicePath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fds, name, openFailed(name, cfg.DevicePath, err)
		}
		fds = append(fds, fd)
		if i == 0 && vnet {
			feats, err := unix.IoctlGetUint32(fd, unix.TUNGETFEATURES)
			if err != nil {
				return fds, name, &fastPathError{"TUNGETFEATURES", err}
			}
			if feats&unix.IFF_VNET_HDR == 0 {
				return fds, name, &fastPathError{"TUNGETFEATURES", errors.New("the driver lacks IFF_VNET_HDR")}
			}
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return fds, name, refuse(name, err, "name too long")
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			if vnet && errors.Is(err, unix.EINVAL) {
				return fds, name, &fastPathError{"TUNSETIFF with IFF_VNET_HDR", err}
			}
			return fds, name, attachFailed(name, err)
		}
		name = ifr.Name()
		if i > 0 {
			continue
		}
		// Header size, byte order and offloads belong to the device, not
		// to the queue: set them once.
		if !vnet {
			// A previous user of an existing device may have left
			// offloads on; without a header to describe them the kernel
			// would hand us unsummed or 64 KiB frames.
			_ = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0)
			continue
		}
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
			return fds, name, &fastPathError{"TUNSETVNETHDRSZ", err}
		}
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETLE, 1); err != nil {
			return fds, name, &fastPathError{"TUNSETVNETLE", err}
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloads); err != nil {
			return fds, name, &fastPathError{"TUNSETOFFLOAD", err}
		}
	}
	return fds, name, nil
}

// openFailed explains a failure to open the clone device.
func openFailed(name, path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return refuse(name, err, "%s does not exist (is the tun module loaded? modprobe tun)", path)
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return refuse(name, err, "%s: no TUN/TAP driver behind it", path)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return refuse(name, err, "permission denied opening %s (need root or CAP_NET_ADMIN)", path)
	}
	return refuse(name, err, "open %s: %v", path, err)
}

// attachFailed explains a TUNSETIFF refusal.
func attachFailed(name string, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY):
		// A device without IFF_MULTI_QUEUE takes one file descriptor.
		return refuse(name, err, "in use by another process")
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return refuse(name, err, "permission denied (need root or CAP_NET_ADMIN)")
	case errors.Is(err, unix.E2BIG):
		return refuse(name, err, "too many queues attached (the kernel allows %d)", MaxQueues)
	case errors.Is(err, unix.EINVAL):
		return refuse(name, err, "TUNSETIFF: %v (a device of that name with other flags?)", err)
	}
	return refuse(name, err, "TUNSETIFF: %v", err)
}
