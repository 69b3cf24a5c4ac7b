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
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The EAL is one per process: DPDK keeps it in global state, so this is
// the package's only global state besides the ports it lets be opened
// once.
var eal struct {
	mu    sync.Mutex
	state ealState
	args  []string
	err   error           // why the first Init failed
	open  map[uint16]bool // ports open in this process
	// files is what this process made in the EAL's runtime directory, to
	// remove at Cleanup or Abandon. It is set once, by Init, and read
	// without eal.mu: a forced exit must not wait for a stuck Cleanup.
	files atomic.Pointer[runtimeFiles]
}

// runtimeFiles is what DPDK leaves in its runtime directory
// (/var/run/dpdk/PREFIX) for atexit handlers to remove: a Go program exits
// without running them.
type runtimeFiles struct {
	dir string
	// telemetry is the telemetry socket this process made, and telemetryI
	// what it was when made; nil when another process of the same prefix
	// made it.
	telemetry  string
	telemetryI os.FileInfo
}

// remove removes the telemetry socket this process made (another process
// with the same prefix may have made its own since: that one stays), then
// the directory if that leaves it empty.
func (f *runtimeFiles) remove() {
	if f == nil {
		return
	}
	if f.telemetryI != nil {
		if fi, err := os.Lstat(f.telemetry); err == nil && os.SameFile(fi, f.telemetryI) {
			os.Remove(f.telemetry)
		}
	}
	if f.dir != "" {
		os.Remove(f.dir) // fails, as it should, unless empty
	}
}

type ealState uint8

const (
	ealDown ealState = iota
	ealUp
	ealFailed
	ealCleaned
)

// Init initialises DPDK's EAL (rte_eal_init) with ealArgs, passed through
// unchanged after a program name ("ustack"), for example
//
//	dpdk.Init([]string{"--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0", "--vdev=net_tap0,iface=dtap0"})
//
// Call it once per process, before Open, from the goroutine that will run
// queue 0's loop (or one that does nothing else afterwards, such as main's):
// Init locks that goroutine to its OS thread and leaves it locked, because
// the EAL makes the thread its main lcore and pins it to the first core of
// -l. Other goroutines that drive queues call Port.ThreadInit (or
// RegisterThread) first.
//
// Errors are one line naming the cause. DPDK 22.11 cannot initialise the
// EAL again in a process where rte_eal_init failed (it keeps part of the
// parsed state, such as -l), so after a failure every later Init returns
// the first failure; likewise after Cleanup.
func Init(ealArgs []string) error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	switch eal.state {
	case ealUp:
		return fmt.Errorf("%w (with %q)", ErrInitialised, eal.args)
	case ealFailed:
		return fmt.Errorf("dpdk: the EAL cannot be initialised again in this process after it failed (DPDK 22.11): %w", eal.err)
	case ealCleaned:
		return errors.New("dpdk: the EAL was cleaned up; DPDK cannot initialise it again in this process")
	}
	argv := append([]string{"ustack"}, ealArgs...)
	// The strings stay allocated for the life of the process: rte_eal_init
	// permutes argv and DPDK may keep pointers into it.
	cargv := (**C.char)(C.calloc(C.size_t(len(argv)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	av := unsafe.Slice(cargv, len(argv)+1)
	for i, a := range argv {
		av[i] = C.CString(a)
	}
	runtime.LockOSThread()
	r := C.us_eal_init(C.int(len(argv)), cargv)
	if r < 0 {
		runtime.UnlockOSThread()
		eal.state = ealFailed
		eal.err = ealError(ealArgs, syscall.Errno(-r))
		// A runtime directory made before the failure goes, if empty.
		dir := C.GoString(C.rte_eal_get_runtime_dir())
		removeFailedPrimaryFiles(dir)
		(&runtimeFiles{dir: dir}).remove()
		return eal.err
	}
	eal.state = ealUp
	eal.args = append([]string(nil), ealArgs...)
	eal.open = make(map[uint16]bool)
	files := &runtimeFiles{dir: C.GoString(C.rte_eal_get_runtime_dir())}
	files.telemetry = filepath.Join(files.dir, "dpdk_telemetry.v2")
	if ownSocket(files.telemetry) {
		// Another process of the same prefix may run and have made it:
		// then it is not ours to remove.
		files.telemetryI, _ = os.Lstat(files.telemetry)
	}
	eal.files.Store(files)
	return nil
}

// ownSocket reports whether this process has a descriptor of the Unix
// socket bound to path: the inodes /proc/net/unix lists for the path
// against those of /proc/self/fd.
func ownSocket(path string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		// Num RefCount Protocol Flags Type St Inode Path
		if f := strings.Fields(l); len(f) == 8 && f[7] == path {
			inodes["socket:["+f[6]+"]"] = true
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && inodes[l] {
			return true
		}
	}
	return false
}

// removeFailedPrimaryFiles removes what a primary process whose
// rte_eal_init failed after it set up its shared configuration leaves in
// runtime directory dir (without hugepages, for one): the configuration
// file and the multi-process socket. They are ours only if no other
// process holds the configuration file's lock, as a running primary of
// the same prefix does; then they stay.
func removeFailedPrimaryFiles(dir string) {
	if dir == "" || C.rte_eal_process_type() != C.RTE_PROC_PRIMARY {
		return
	}
	config := filepath.Join(dir, "config")
	f, err := os.OpenFile(config, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	lock := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lock) != nil {
		return // another primary's
	}
	os.Remove(config)
	os.Remove(filepath.Join(dir, "mp_socket"))
}

// ealError explains a failed rte_eal_init in one line.
func ealError(args []string, e syscall.Errno) error {
	hint := ""
	switch e {
	case syscall.EINVAL:
		hint = "bad EAL arguments (DPDK printed which above)"
	case syscall.ENODEV:
		hint = "a device of -a/--vdev could not be parsed or created"
	case syscall.ENOMEM:
		hint = "not enough memory (raise -m, or add --no-huge without hugepages)"
	case syscall.EACCES, syscall.EPERM:
		// The EAL says EACCES when it finds no usable hugepages, root or
		// not.
		hint = "permission denied, or no usable hugepages"
		if !slices.Contains(args, "--no-huge") {
			hint += " (reserve some: echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, hugetlbfs mounted; or pass --no-huge)"
		}
		if os.Geteuid() != 0 {
			hint += "; DPDK needs root or the right capabilities"
		}
	case syscall.EALREADY:
		hint = "rte_eal_init was already called in this process"
	case syscall.ENOTSUP:
		hint = "the EAL arguments ask for something this machine lacks"
	}
	if hint != "" {
		return fmt.Errorf("dpdk: EAL init %q: %s: %w", args, hint, e)
	}
	return fmt.Errorf("dpdk: EAL init %q: %w", args, e)
}

// requireEAL reports an error unless the EAL is up. eal.mu is held.
func requireEAL() error {
	switch eal.state {
	case ealUp:
		return nil
	case ealFailed:
		return fmt.Errorf("dpdk: the EAL failed to initialise: %w", eal.err)
	case ealCleaned:
		return errors.New("dpdk: the EAL was cleaned up")
	}
	return errors.New("dpdk: the EAL is not initialised: call dpdk.Init first")
}

// Cleanup releases the EAL (rte_eal_cleanup). Close every port first; DPDK
// cannot initialise the EAL again in the same process afterwards.
func Cleanup() error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if eal.state != ealUp {
		return nil
	}
	if n := len(eal.open); n > 0 {
		return fmt.Errorf("dpdk: Cleanup with %d port(s) still open: close them first", n)
	}
	eal.state = ealCleaned
	r := C.us_eal_cleanup()
	eal.files.Load().remove()
	if r < 0 {
		return fmt.Errorf("dpdk: EAL cleanup: %w", syscall.Errno(-r))
	}
	return nil
}

// Abandon removes what the EAL made in its runtime directory, as Cleanup
// does, for a process about to exit without Cleanup: one forced out of a
// shutdown that hangs, for example. It does not wait for a Cleanup or an
// Open in progress, and it leaves the EAL and the ports as they are: call
// it only right before the process exits.
func Abandon() { eal.files.Load().remove() }

// RegisterThread makes the calling OS thread a DPDK lcore
// (rte_thread_register), so that mempool allocations and frees from it use
// a per-lcore cache; on an unregistered thread they still work but go to
// the shared ring every time. Call it after runtime.LockOSThread at the
// start of every goroutine that drives a queue, other than the one that
// called Init; calling it again on the same thread does nothing. Call
// UnregisterThread before the goroutine unlocks or exits.
func RegisterThread() error {
	if r := C.us_thread_register(); r < 0 {
		return fmt.Errorf("dpdk: register thread as an lcore: %w", syscall.Errno(-r))
	}
	return nil
}

// UnregisterThread gives back the lcore RegisterThread took for the
// calling thread, if any (DPDK has RTE_MAX_LCORE of them).
func UnregisterThread() { C.us_thread_unregister() }

// lcoreID is the calling thread's lcore, or ^uint32(0) when it has none.
func lcoreID() uint32 { return uint32(C.us_lcore_id()) }

// Probe attaches a device after Init (rte_dev_probe), such as a virtual
// device "net_ring1" or "net_tap1,iface=dtap1"; it is then a port Open can
// find by name.
func Probe(devargs string) error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	if err := requireEAL(); err != nil {
		return err
	}
	cs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cs))
	if r := C.us_dev_probe(cs); r < 0 {
		return fmt.Errorf("dpdk: probe %q: %w", devargs, syscall.Errno(-r))
	}
	return nil
}
