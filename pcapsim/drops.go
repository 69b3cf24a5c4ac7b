package pcapsim

import (
	"reflect"
	"strings"

	"github.com/ustack/ustack/stack"
)

// Count is one named counter.
type Count struct {
	// Name is the counter's group and field in stack.Counters, as
	// "IP.InAddrErrors".
	Name string
	N    uint64
}

// dropWords mark the counters of stack.Counters that count packets
// dropped or refused, by their names (netstat -s's): a counter added to
// the stack under such a name is reported without a change here.
var dropWords = []string{
	"Drop", "Err", "Fail", "Trunc", "OtherHost", "Unknown", "Malformed",
	"NotForUs", "Martian", "NoPorts", "NoRoutes", "Discard", "Overflow",
	"Limited", "OutOfWindow", "BadOptions", "AckOfUnsent", "AckTooOld",
	"DataAfterFin", "DataOnClosed", "CacheFull", "Conflicts", "Overlaps",
	"ReasmTimeout",
}

// notDrops are counters whose names match dropWords but which count
// connections, not packets.
var notDrops = map[string]bool{
	"TCP.AttemptFails": true,
}

// Drops returns the non-zero counters of c that count dropped packets, by
// reason, in the order of stack.Counters.
func Drops(c stack.Counters) []Count {
	var out []Count
	for _, n := range NonZero(c) {
		if isDrop(n.Name) {
			out = append(out, n)
		}
	}
	return out
}

// NonZero returns the non-zero counters of c, in the order of
// stack.Counters.
func NonZero(c stack.Counters) []Count {
	var out []Count
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		group := v.Type().Field(i).Name
		g := v.Field(i)
		if g.Kind() != reflect.Struct {
			continue
		}
		for j := range g.NumField() {
			f := g.Field(j)
			if f.Kind() != reflect.Uint64 || f.Uint() == 0 {
				continue
			}
			out = append(out, Count{Name: group + "." + g.Type().Field(j).Name, N: f.Uint()})
		}
	}
	return out
}

func isDrop(name string) bool {
	if notDrops[name] {
		return false
	}
	field := name[strings.IndexByte(name, '.')+1:]
	for _, w := range dropWords {
		if strings.Contains(field, w) {
			return true
		}
	}
	return false
}
