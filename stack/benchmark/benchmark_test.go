package benchmark

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every scenario runs and measures something, with and without offloads.
func TestScenariosMeasure(t *testing.T) {
	for _, off := range []bool{true, false} {
		cfg := Config{Link: Link{MTU: 1500, Offload: off}, Duration: 200 * time.Millisecond, Conns: 200}
		name := map[bool]string{true: "offload", false: "software"}[off]
		t.Run("bulk/"+name, func(t *testing.T) {
			r, err := Bulk(cfg)
			require.NoError(t, err)
			t.Logf("%+v", r)
			assert.Equal(t, "ustack", r.Stack)
			assert.Equal(t, off, r.Offload)
			assert.Positive(t, r.GbitPerS)
			assert.Positive(t, r.GbitPerCPUS)
			assert.Positive(t, r.Packets)
		})
		t.Run("rr/"+name, func(t *testing.T) {
			r, err := RR(cfg)
			require.NoError(t, err)
			t.Logf("%+v", r)
			assert.Positive(t, r.TPS)
			assert.Positive(t, r.P50us)
			assert.GreaterOrEqual(t, r.P99us, r.P50us)
		})
		t.Run("crr/"+name, func(t *testing.T) {
			r, err := CRR(cfg)
			require.NoError(t, err)
			t.Logf("%+v", r)
			assert.Positive(t, r.CPS)
			assert.GreaterOrEqual(t, r.P99us, r.P50us)
		})
		t.Run("conns/"+name, func(t *testing.T) {
			r, err := Conns(cfg)
			require.NoError(t, err)
			t.Logf("%+v", r)
			assert.Equal(t, 200, r.Conns)
			assert.Positive(t, r.BytesPerConn)
		})
	}
}

// Bulk on a link that loses frames still moves data; loss with offloads
// (a TSO frame lost whole on one stack's link, by segment on the other's)
// or of everything is refused.
func TestBulkOverALossyLink(t *testing.T) {
	r, err := Bulk(Config{Link: Link{MTU: 1500, Loss: 0.02}, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, r.GbitPerS)
	assert.Equal(t, 0.02, r.Loss)
	_, err = Bulk(Config{Link: Link{MTU: 1500, Offload: true, Loss: 0.02}})
	assert.ErrorContains(t, err, "with offloads")
	_, err = Bulk(Config{Link: Link{MTU: 1500, Loss: 1}})
	assert.ErrorContains(t, err, "loss 1")
}

func TestRunRefusesUnknownScenario(t *testing.T) {
	_, err := Run("bogus", Config{})
	assert.ErrorContains(t, err, `"bogus"`)
	_, err = Bulk(Config{Link: Link{MTU: 20}})
	assert.ErrorContains(t, err, "mtu 20")
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	assert.InEpsilon(t, 500*time.Microsecond, h.quantile(0.5), 1.0/64)
	assert.InEpsilon(t, 990*time.Microsecond, h.quantile(0.99), 1.0/64)
	assert.InEpsilon(t, 1000*time.Microsecond, h.quantile(1), 1.0/64)
	assert.InEpsilon(t, time.Microsecond, h.quantile(0.0001), 1.0/64)
}

// Every value lands in a bucket whose bounds contain it.
func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<20 + 12345, 1<<40 - 1} {
		i := bucket(v)
		require.Less(t, i, histBuckets)
		lo, w := bounds(i)
		assert.LessOrEqual(t, lo, v, "v=%d", v)
		assert.Less(t, v, lo+w, "v=%d", v)
	}
	assert.Equal(t, histBuckets-1, bucket(1<<50))
}
