package stack

import "reflect"

// snapshotCounters copies the queue's counters: on its loop when it runs
// one (the counters are the loop's alone), directly otherwise.
func (q *queue) snapshotCounters() Counters {
	s := q.s
	if s.cfg.Manual {
		s.pollMu.Lock()
		defer s.pollMu.Unlock()
		return q.counters
	}
	if s.closing.Load() {
		return q.counters
	}
	done := make(chan Counters, 1)
	q.post(func(q *queue) { done <- q.counters })
	select {
	case c := <-done:
		return c
	case <-s.closed:
		return q.counters
	}
}

// addCounters adds every counter of src to dst.
func addCounters(dst, src *Counters) {
	addFields(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func addFields(dst, src reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		d, s := dst.Field(i), src.Field(i)
		switch d.Kind() {
		case reflect.Struct:
			addFields(d, s)
		case reflect.Uint64:
			d.SetUint(d.Uint() + s.Uint())
		}
	}
}
