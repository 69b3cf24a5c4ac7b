package stack

import (
	"sync"
	"time"
)

// deadline is a settable deadline with a channel that is closed when it
// passes, after net.Pipe's: blocked readers or writers select on wait().
// Setting a new deadline makes a fresh channel unless the old one is still
// open and the deadline is in the future.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

// deadlines are a socket's read and write deadlines; embedded, they give
// it net.Conn's deadline methods.
type deadlines struct {
	rdl, wdl deadline
}

func makeDeadlines() deadlines { return deadlines{rdl: makeDeadline(), wdl: makeDeadline()} }

// SetDeadline implements net.Conn.
func (d *deadlines) SetDeadline(t time.Time) error {
	d.rdl.set(t)
	d.wdl.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (d *deadlines) SetReadDeadline(t time.Time) error { d.rdl.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (d *deadlines) SetWriteDeadline(t time.Time) error { d.wdl.set(t); return nil }

// set arms the deadline at t; the zero time disarms it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until it closed cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait is closed once the deadline has passed.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
