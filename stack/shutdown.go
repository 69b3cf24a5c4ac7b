package stack

import (
	"context"
	"time"
)

// Shutdown closes the stack gracefully: listeners stop accepting, every
// TCP connection is finished with a FIN after its buffered data, as if its
// application had closed it, and Shutdown waits until the peers have
// acknowledged it all or ctx is done; then it closes the stack as Close
// does.
func (s *Stack) Shutdown(ctx context.Context) error {
	if s.closing.Load() {
		return nil
	}
	for _, q := range s.queues {
		s.call(ctx, q, func(q *queue) error {
			for _, c := range q.tcp.sortedConns() {
				if c.ln != nil || c.state == stateListen {
					continue
				}
				if c.sock != nil {
					c.sock.closed.Store(true)
					c.sock.wakeAll()
				}
				c.appClose()
			}
			for _, ln := range q.tcp.sortedListeners() {
				ln.Close()
			}
			return nil
		})
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.liveConnections(ctx) > 0 {
		select {
		case <-ctx.Done():
			return s.Close()
		case <-tick.C:
		}
	}
	return s.Close()
}

// liveConnections counts connections whose data and FIN the peer has not
// yet acknowledged (FIN-WAIT-2 and TIME-WAIT are done on our side).
func (s *Stack) liveConnections(ctx context.Context) int {
	n := 0
	for _, q := range s.queues {
		s.call(ctx, q, func(q *queue) error {
			for _, c := range q.tcp.conns {
				switch c.state {
				case stateFinWait2, stateTimeWait, stateClosed:
				default:
					n++
				}
			}
			return nil
		})
	}
	return n
}
