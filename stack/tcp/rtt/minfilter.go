package rtt

import "time"

// DefaultMinWindow is the window of the minimum-RTT filter Linux uses for
// tcp_min_rtt_wlen (300 s).
const DefaultMinWindow = 5 * time.Minute

// MinFilter tracks the minimum RTT seen over a sliding time window, in
// constant space: it keeps the best, second-best and third-best samples of
// sub-windows (Kathleen Nichols' windowed filter, as in BBR and Linux's
// lib/minmax.c), so an old minimum ages out without keeping every sample.
// The estimate is exact when the minimum is recent and errs high by at most
// what the sub-window choices allow otherwise.
//
// The zero value holds no sample and uses DefaultMinWindow.
type MinFilter struct {
	Window time.Duration // length of the window; zero means DefaultMinWindow
	s      [3]minSample
	valid  bool
}

type minSample struct {
	t int64 // time of the sample, nanoseconds
	v time.Duration
}

// Update feeds sample rtt taken at now and returns the windowed minimum. Time
// must not go backwards.
func (f *MinFilter) Update(now int64, rtt time.Duration) time.Duration {
	win := int64(f.Window)
	if win <= 0 {
		win = int64(DefaultMinWindow)
	}
	val := minSample{t: now, v: rtt}
	// A new minimum, or nothing left in the window: forget the rest.
	if !f.valid || rtt <= f.s[0].v || now-f.s[2].t > win {
		f.Reset(now, rtt)
		return rtt
	}
	if rtt <= f.s[1].v {
		f.s[1], f.s[2] = val, val
	} else if rtt <= f.s[2].v {
		f.s[2] = val
	}
	dt := now - f.s[0].t
	switch {
	case dt > win:
		// The best sample left the window: promote the second and third
		// choices. The second may be out of the window too.
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], val
		if now-f.s[0].t > win {
			f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], val
		}
	case f.s[1].t == f.s[0].t && dt > win/4:
		// A quarter of the window passed without a second choice: take
		// one from the second quarter.
		f.s[1], f.s[2] = val, val
	case f.s[2].t == f.s[1].t && dt > win/2:
		// Half the window passed without a third choice: take one from
		// the second half.
		f.s[2] = val
	}
	return f.s[0].v
}

// Reset makes rtt, taken at now, the only sample.
func (f *MinFilter) Reset(now int64, rtt time.Duration) {
	v := minSample{t: now, v: rtt}
	f.s = [3]minSample{v, v, v}
	f.valid = true
}

// Min is the windowed minimum as of the last Update, or zero with no sample.
func (f *MinFilter) Min() time.Duration {
	if !f.valid {
		return 0
	}
	return f.s[0].v
}

// Valid reports whether the filter holds a sample.
func (f *MinFilter) Valid() bool { return f.valid }
