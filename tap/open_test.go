package tap

import (
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ustack/ustack/backend"
)

func TestOpenRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"long name", Config{Name: "a-name-too-long-for-linux"}, "name longer than 15 bytes"},
		{"slash in name", Config{Name: "a/b"}, "cannot contain"},
		{"two patterns", Config{Name: "t%d%d"}, "one %d"},
		{"small mtu", Config{Name: "t0", MTU: 67}, "mtu 67 out of range"},
		{"large mtu", Config{Name: "t0", MTU: 65536}, "mtu 65536 out of range"},
		{"negative queues", Config{Name: "t0", Queues: -1}, "queues -1 out of range"},
		{"too many queues", Config{Name: "t0", Queues: MaxQueues + 1}, "queues 257 out of range"},
		{"offload mode", Config{Name: "t0", Offload: "maybe"}, `offload mode "maybe"`},
		{"multicast mac", Config{Name: "t0", MAC: []byte{1, 2, 3, 4, 5, 6}}, "not a 6-byte unicast"},
		{"short mac", Config{Name: "t0", MAC: []byte{2, 2, 3}}, "not a 6-byte unicast"},
		{"negative pool", Config{Name: "t0", PoolSize: -1}, "pool size -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.cfg)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOpenMissingCloneDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-tun")
	_, err := Open(Config{Name: "ustknotun", DevicePath: path})
	require.Error(t, err)
	assert.Equal(t, "tap ustknotun: "+path+" does not exist (is the tun module loaded? modprobe tun)", err.Error())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestOpenRefusesOtherDevices(t *testing.T) {
	// Every Linux system has lo, and it is not a TAP device.
	_, err := Open(Config{Name: "lo"})
	assert.EqualError(t, err, "tap lo: exists and is not a TAP device")
}

func TestOpenRefusesTUN(t *testing.T) {
	requireRoot(t)
	name := uniqueName(t)
	run(t, "ip", "tuntap", "add", "mode", "tun", "name", name)
	t.Cleanup(func() { _ = exec.Command("ip", "tuntap", "del", "mode", "tun", "name", name).Run() })
	_, err := Open(Config{Name: name})
	assert.EqualError(t, err, "tap "+name+": exists and is a TUN device, not TAP")
}

func TestCreatedDeviceDisappearsOnClose(t *testing.T) {
	requireRoot(t)
	name := uniqueName(t)
	d, err := Open(Config{Name: name, MTU: 9000})
	require.NoError(t, err)
	assert.False(t, d.Attached())
	assert.Equal(t, name, d.Caps().Name)
	assert.Equal(t, 9000, d.Caps().MTU)
	assert.True(t, linkExists(name))
	assert.Zero(t, tunFlags(t, name)&unix.IFF_PERSIST, "we never make a device persistent")
	require.NoError(t, d.Close())
	assert.False(t, linkExists(name))
	assert.Zero(t, d.Outstanding())
}

func TestOpenPicksName(t *testing.T) {
	requireRoot(t)
	d, err := Open(Config{Name: "ustk%d"})
	require.NoError(t, err)
	name := d.Caps().Name
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	assert.Regexp(t, `^ustk[0-9]+$`, name)
	assert.True(t, linkExists(name))
	require.NoError(t, d.Close())
	assert.False(t, linkExists(name))
}

func TestOpenInUse(t *testing.T) {
	requireRoot(t)
	name := uniqueName(t)
	d, err := Open(Config{Name: name})
	require.NoError(t, err)
	defer d.Close()
	_, err = Open(Config{Name: name})
	require.Error(t, err)
	assert.EqualError(t, err, "tap "+name+": in use by another process")
	assert.ErrorIs(t, err, syscall.EBUSY)
}

func TestAttachToExistingDevice(t *testing.T) {
	for _, tc := range []struct {
		name       string
		multiQueue bool
		queues     []int // Open with each in turn
	}{
		{"single queue", false, []int{1}},
		{"multi queue", true, []int{1, 2, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireRoot(t)
			name := uniqueName(t)
			args := []string{"ip", "tuntap", "add", "mode", "tap", "name", name}
			if tc.multiQueue {
				args = append(args, "multi_queue")
			}
			run(t, args...)
			t.Cleanup(func() {
				_ = exec.Command("ip", "link", "del", name).Run()
			})
			before := tunFlags(t, name)
			require.NotZero(t, before&unix.IFF_PERSIST, "ip tuntap makes persistent devices")
			for _, queues := range tc.queues {
				for _, mode := range []OffloadMode{OffloadOn, OffloadOff} {
					d, err := Open(Config{Name: name, Queues: queues, Offload: mode})
					require.NoError(t, err, "queues %d, offload %s", queues, mode)
					assert.True(t, d.Attached())
					assert.Equal(t, queues, d.Caps().Queues)
					require.NoError(t, d.Close())
					assert.True(t, linkExists(name), "an attached device stays after Close")
					after := tunFlags(t, name)
					assert.Equal(t, before&(unix.IFF_PERSIST|unix.IFF_MULTI_QUEUE), after&(unix.IFF_PERSIST|unix.IFF_MULTI_QUEUE),
						"persist and multi-queue flags as they were: before %#x, after %#x", before, after)
				}
			}
			if !tc.multiQueue {
				_, err := Open(Config{Name: name, Queues: 2})
				assert.EqualError(t, err, "tap "+name+": exists without multi_queue; cannot open 2 queues")
			}
		})
	}
}

// TestAttachToDeviceInUseByOurself opens a second Device on a multi-queue
// device another Device created: it attaches more queues and leaves the
// device to its creator.
func TestAttachToMultiQueueDeviceInUse(t *testing.T) {
	requireRoot(t)
	name := uniqueName(t)
	first, err := Open(Config{Name: name, Queues: 2})
	require.NoError(t, err)
	defer first.Close()
	second, err := Open(Config{Name: name, Queues: 1})
	require.NoError(t, err)
	assert.True(t, second.Attached())
	require.NoError(t, second.Close())
	assert.True(t, linkExists(name))
	require.NoError(t, first.Close())
	assert.False(t, linkExists(name))
}

// TestPermissionDenied runs Open as nobody on a clone device node anyone may
// open, so that TUNSETIFF, not open(2), is what refuses.
func TestPermissionDenied(t *testing.T) {
	if os.Getenv("TAP_TEST_UNPRIVILEGED") == "1" {
		name := os.Getenv("TAP_TEST_NAME")
		_, err := Open(Config{Name: name, DevicePath: os.Getenv("TAP_TEST_NODE")})
		require.Error(t, err)
		assert.EqualError(t, err, "tap "+name+": permission denied (need root or CAP_NET_ADMIN)")
		assert.ErrorIs(t, err, os.ErrPermission)
		return
	}
	requireRoot(t)
	dir := t.TempDir()
	// The test's own directories are private; nobody must reach in.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	node := filepath.Join(dir, "tun")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Skipf("skipping: cannot make a device node: %v", err)
	}
	require.NoError(t, os.Chmod(node, 0o666))
	bin := filepath.Join(dir, "tap.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run=^TestPermissionDenied$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TAP_TEST_UNPRIVILEGED=1", "TAP_TEST_NAME="+uniqueName(t), "TAP_TEST_NODE="+node)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "permission denied opening") {
		t.Skipf("skipping: the device node cannot be opened here (nodev mount?): %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestPermissionDenied")
}

func copyFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

func TestOffloadModes(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		mode OffloadMode
		fast bool
	}{
		{OffloadAuto, true}, // this kernel has IFF_VNET_HDR
		{OffloadOn, true},
		{OffloadOff, false},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			d, err := Open(Config{Name: uniqueName(t), Offload: tc.mode})
			require.NoError(t, err)
			defer d.Close()
			fast, refused := d.Offload()
			assert.Equal(t, tc.fast, fast)
			assert.NoError(t, refused)
			o := d.Caps().Offloads
			if tc.fast {
				assert.Equal(t, backend.Offloads{RxCsum: true, TxCsum: true, TSO: true, TSOMax: 65535, GRO: true, SG: true}, o)
				assert.NotZero(t, tunFlags(t, d.Caps().Name)&unix.IFF_VNET_HDR)
			} else {
				assert.Equal(t, backend.Offloads{SG: true}, o)
				assert.Zero(t, tunFlags(t, d.Caps().Name)&unix.IFF_VNET_HDR)
			}
			assert.Equal(t, backend.SteerNone, d.Caps().Steering)
			assert.Equal(t, 1500, d.Caps().MTU)
			assert.GreaterOrEqual(t, d.Caps().BufSize, 1500+14)
		})
	}
}

func TestHostAddresses(t *testing.T) {
	r := openRig(t, Config{})
	name := r.d.Caps().Name
	out := run(t, "ip", "-4", "addr", "show", "dev", name)
	assert.Contains(t, out, r.host.String()+"/24")
	assert.Contains(t, run(t, "ip", "link", "show", "dev", name), ",UP")

	requireRoot(t)
	name6 := uniqueName(t)
	d, err := Open(Config{Name: name6, HostAddrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.77.1/24"), netip.MustParsePrefix("2001:db8:5::1/64"), netip.MustParsePrefix("2001:db8:6::1/64"),
	}})
	require.NoError(t, err)
	defer d.Close()
	assert.Contains(t, run(t, "ip", "-4", "addr", "show", "dev", name6), "198.18.77.1/24")
	six := run(t, "ip", "-6", "addr", "show", "dev", name6)
	assert.Contains(t, six, "2001:db8:5::1/64")
	assert.Contains(t, six, "2001:db8:6::1/64")
	// Usable at once: no duplicate address detection on the kernel's side.
	assert.Contains(t, six, "2001:db8:5::1/64 scope global nodad \n")
	assert.Contains(t, six, "2001:db8:6::1/64 scope global nodad \n")

	_, err = Open(Config{Name: uniqueName(t), HostAddrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.77.1/24"), netip.MustParsePrefix("198.18.78.1/24"),
	}})
	assert.ErrorContains(t, err, "a device takes one IPv4 host address")
}

// linkExists reports whether the kernel has a network device called name.
func linkExists(name string) bool {
	_, err := os.Stat(sysClassNet + name)
	return err == nil
}

// TestFastPathFallback asks the kernel for an offload it does not know, so
// that TUNSETOFFLOAD refuses: auto falls back to plain frames and says why,
// on fails.
func TestFastPathFallback(t *testing.T) {
	requireRoot(t)
	const unknown = 1 << 20
	name := uniqueName(t)
	d, err := open(Config{Name: name}, unknown)
	require.NoError(t, err)
	defer d.Close()
	fast, refused := d.Offload()
	assert.False(t, fast)
	assert.ErrorContains(t, refused, "vnet header fast path refused: TUNSETOFFLOAD")
	assert.ErrorIs(t, refused, syscall.EINVAL)
	assert.Equal(t, backend.Offloads{SG: true}, d.Caps().Offloads)
	assert.Zero(t, tunFlags(t, name)&unix.IFF_VNET_HDR, "reopened without the header")
	require.NoError(t, d.Close())

	_, err = open(Config{Name: uniqueName(t), Offload: OffloadOn}, unknown)
	assert.ErrorContains(t, err, "vnet header fast path refused: TUNSETOFFLOAD: invalid argument")
	assert.ErrorIs(t, err, syscall.EINVAL)
}
