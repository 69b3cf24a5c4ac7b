package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// --eal splits as a shell would, so that quoted device arguments survive.
func TestSplitEAL(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                nil,
		"  -l 0   --no-huge\t--no-pci\n":  {"-l", "0", "--no-huge", "--no-pci"},
		"--vdev='net_pcap0,rx_pcap=/a b'": {"--vdev=net_pcap0,rx_pcap=/a b"},
		`--vdev="net_tap0,iface=t0" -l 0`: {"--vdev=net_tap0,iface=t0", "-l", "0"},
		`"a \"b\" \\ \$ \x"`:              {`a "b" \ $ \x`},
		`a\ b c\'d`:                       {"a b", "c'd"},
		`'' ""`:                           {"", ""},
		`x'y'"z"`:                         {"xyz"},
	} {
		got, err := splitEAL(in)
		assert.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"-l 0 --vdev='net_tap0": "a single quote is not closed",
		`--vdev="net_tap0`:      "a double quote is not closed",
		`-l 0 \`:                "a backslash ends it",
	} {
		_, err := splitEAL(in)
		assert.EqualError(t, err, want, in)
	}
}
