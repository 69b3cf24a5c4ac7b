package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ustack/ustack/stack/benchmark"
)

func TestPlanCoversMTUsAndOffloads(t *testing.T) {
	cases, err := plan("bulk,rr,conns", "1500,65535", "on,off", 0.01)
	require.NoError(t, err)
	var names []string
	for _, c := range cases {
		names = append(names, c.scenario)
	}
	assert.Equal(t, []string{"bulk", "bulk", "bulk", "bulk", "bulk", "rr", "rr", "conns"}, names)
	assert.Equal(t, 65535, cases[1].link.MTU)
	assert.False(t, cases[2].link.Offload)
	assert.Equal(t, benchmark.Link{MTU: 1500, Loss: 0.01}, cases[4].link, "the lossy case: no offloads")
	assert.Equal(t, 1500, cases[5].link.MTU)

	for _, bad := range [][3]string{{"bulky", "1500", "on"}, {"rr", "20", "on"}, {"rr", "1500", "maybe"}} {
		_, err := plan(bad[0], bad[1], bad[2], 0)
		assert.Error(t, err, "%v", bad)
	}
	_, err = plan("bulk", "1500", "on", 1)
	assert.Error(t, err, "loss of everything")
}

func TestCompareRunsBothStacks(t *testing.T) {
	var out, errb bytes.Buffer
	err := run([]string{"--scenarios", "rr,conns", "--offload", "off", "--duration", "100ms", "--conns", "20"}, &out, &errb)
	require.NoError(t, err, errb.String())
	assert.Contains(t, out.String(), "transactions/s")
	assert.Contains(t, out.String(), "bytes/connection")
	assert.Contains(t, errb.String(), "on gvisor")

	out.Reset()
	err = run([]string{"--scenarios", "bulk", "--mtu", "9000", "--offload", "on", "--loss", "0", "--duration", "100ms", "--json"}, &out, &errb)
	require.NoError(t, err, errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1)
	var c comparison
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &c))
	assert.Equal(t, "ustack", c.UStack.Stack)
	assert.Equal(t, "gvisor", c.GVisor.Stack)
	assert.Equal(t, 9000, c.GVisor.MTU)
	assert.Positive(t, c.Ratios["gbit_per_cpu_s"])
}
