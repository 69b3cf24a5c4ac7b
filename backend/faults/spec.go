package faults

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Dir is the faults of one direction. The zero value injects none.
type Dir struct {
	// Loss, Dup, Reorder, Corrupt and Truncate are the probabilities,
	// each in [0,1], that a frame is dropped, duplicated, held back behind
	// the next frame, has one bit flipped, or is cut short.
	Loss, Dup, Reorder, Corrupt, Truncate float64
	// CE is the probability that an ECN-capable IP packet (ECT) is marked
	// Congestion Experienced, as a router's active queue management
	// would mark it rather than drop it (RFC 3168 §5).
	CE float64
	// Delay holds every frame for Delay ± Jitter (uniform). Jitter never
	// exceeds Delay and never reorders frames: use Reorder for that.
	Delay, Jitter time.Duration
	// Rate limits the direction to Rate bits per second (0: unlimited):
	// frames are serialised one after another behind a bounded queue.
	Rate int64
}

// IsZero reports whether d injects no fault.
func (d Dir) IsZero() bool { return d == Dir{} }

// perFrame reports whether a fault may pick out single frames, so that GSO
// frames must be cut into what a wire carries first.
func (d Dir) perFrame() bool {
	return d.Loss > 0 || d.Dup > 0 || d.Reorder > 0 || d.Corrupt > 0 || d.Truncate > 0 || d.CE > 0
}

// Spec is a fault specification: what to do to received (Rx) and sent (Tx)
// frames.
type Spec struct {
	Rx, Tx Dir
}

// IsZero reports whether s injects no fault.
func (s Spec) IsZero() bool { return s.Rx.IsZero() && s.Tx.IsZero() }

// The keys of the grammar, in the order String prints them.
const (
	keyLoss = iota
	keyDup
	keyReorder
	keyCorrupt
	keyTruncate
	keyCE
	keyDelay
	keyRate
	numKeys
)

var keyNames = [numKeys]string{"loss", "dup", "reorder", "corrupt", "truncate", "ce", "delay", "rate"}

// keyAliases are other names of keys: netem's "duplicate".
var keyAliases = map[string]int{"duplicate": keyDup}

// errUnknownKey refuses a key, listing the ones there are.
func errUnknownKey(key string) error {
	return fmt.Errorf("faults: unknown key %q: the keys are %s, with an optional rx: or tx: prefix", key, strings.Join(keyNames[:], ", "))
}

// prob returns the probability field of d for key k.
func (d *Dir) prob(k int) *float64 {
	switch k {
	case keyLoss:
		return &d.Loss
	case keyDup:
		return &d.Dup
	case keyReorder:
		return &d.Reorder
	case keyCorrupt:
		return &d.Corrupt
	case keyTruncate:
		return &d.Truncate
	case keyCE:
		return &d.CE
	}
	return nil
}

// maxRate bounds rates so that serialisation arithmetic cannot overflow and
// a typo of a few digits is caught.
const maxRate = 1e12

// Parse reads a fault specification in the grammar of ustack's --faults
// flag: comma-separated key=value items; loss, dup, reorder, corrupt,
// truncate and ce take a probability in [0,1]; delay takes a duration or
// DURATION~JITTER (time.ParseDuration syntax, jitter at most the delay);
// duplicate is another name of dup, as netem spells it;
// rate takes bits per second, a decimal number with an optional suffix k or
// K (1e3), M (1e6) or G (1e9). A key prefixed rx: or tx: applies to that
// direction only, otherwise to both. The empty string is no faults.
//
// Errors name the item and say what is wrong with it, as
//
//	faults: loss=1.5: probability must be in [0,1]
//	faults: unknown key "lose": the keys are loss, dup, reorder, corrupt, truncate, ce, delay, rate, with an optional rx: or tx: prefix
//
// Setting a key twice for one direction (loss=0.1,rx:loss=0.2) is an error.
func Parse(s string) (Spec, error) {
	var spec Spec
	if strings.TrimSpace(s) == "" {
		return spec, nil
	}
	// Errors quote items as they are: one with a newline or another
	// unprintable character would make a message of several lines.
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }); i >= 0 {
		return Spec{}, fmt.Errorf("faults: %q: unprintable character at byte %d", s, i)
	}
	var seen [2][numKeys]bool // rx, tx
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return Spec{}, fmt.Errorf("faults: empty item in %q", s)
		}
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok {
			return Spec{}, fmt.Errorf("faults: %q: want key=value", item)
		}
		item = key + "=" + val
		rx, tx, name := true, true, key
		if prefix, rest, ok := strings.Cut(key, ":"); ok {
			switch prefix {
			case "rx":
				tx = false
			case "tx":
				rx = false
			default:
				return Spec{}, errUnknownKey(key)
			}
			name = rest
		}
		k, ok := keyAliases[name]
		if !ok {
			k = slices.Index(keyNames[:], name)
		}
		if k < 0 {
			return Spec{}, errUnknownKey(key)
		}
		name = keyNames[k]
		switch {
		case rx && tx && seen[0][k] && seen[1][k]:
			return Spec{}, fmt.Errorf("faults: %s: %s already set for rx and tx", item, name)
		case rx && seen[0][k]:
			return Spec{}, fmt.Errorf("faults: %s: %s already set for rx", item, name)
		case tx && seen[1][k]:
			return Spec{}, fmt.Errorf("faults: %s: %s already set for tx", item, name)
		}
		seen[0][k] = seen[0][k] || rx
		seen[1][k] = seen[1][k] || tx

		var d Dir
		if err := d.parse(k, val); err != nil {
			return Spec{}, fmt.Errorf("faults: %s: %w", item, err)
		}
		if rx {
			spec.Rx.set(k, d)
		}
		if tx {
			spec.Tx.set(k, d)
		}
	}
	return spec, nil
}

// parse sets key k of d from val.
func (d *Dir) parse(k int, val string) error {
	switch k {
	case keyDelay:
		ds, js, hasJitter := strings.Cut(val, "~")
		var err error
		if d.Delay, err = parseDuration(ds); err != nil {
			return err
		}
		if hasJitter {
			if d.Jitter, err = parseDuration(js); err != nil {
				return err
			}
		}
		if d.Jitter > d.Delay {
			return errors.New("jitter exceeds the delay")
		}
	case keyRate:
		r, err := parseRate(val)
		if err != nil {
			return err
		}
		d.Rate = r
	default:
		p, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return errors.New("not a number")
		}
		if !(p >= 0 && p <= 1) {
			return errors.New("probability must be in [0,1]")
		}
		*d.prob(k) = p
	}
	return nil
}

// set copies key k from src.
func (d *Dir) set(k int, src Dir) {
	switch k {
	case keyDelay:
		d.Delay, d.Jitter = src.Delay, src.Jitter
	case keyRate:
		d.Rate = src.Rate
	default:
		*d.prob(k) = *src.prob(k)
	}
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration")
	}
	if d < 0 {
		return 0, errors.New("negative duration")
	}
	return d, nil
}

func parseRate(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1e3, s[:n-1]
		case 'M':
			mult, num = 1e6, s[:n-1]
		case 'G':
			mult, num = 1e9, s[:n-1]
		}
	}
	// Plain decimals only (no exponents, which could ask for huge
	// numbers), computed exactly, so that 12.112M is 12112000.
	digits := strings.Replace(strings.TrimPrefix(num, "-"), ".", "", 1)
	v, ok := new(big.Rat).SetString(num)
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 30 || !ok {
		return 0, errors.New("not a rate in bits per second (as 100M or 1G)")
	}
	v.Mul(v, new(big.Rat).SetInt64(mult))
	switch {
	case v.Sign() <= 0:
		return 0, errors.New("rate must be positive")
	case v.Cmp(new(big.Rat).SetInt64(maxRate)) > 0:
		return 0, errors.New("rate must be at most 1000G")
	case !v.IsInt():
		return 0, errors.New("rate must be a whole number of bits per second")
	}
	return v.Num().Int64(), nil
}

// value formats key k of d, or "" when d does not set it.
func (d *Dir) value(k int) string {
	switch k {
	case keyDelay:
		if d.Delay == 0 {
			return ""
		}
		if d.Jitter == 0 {
			return d.Delay.String()
		}
		return d.Delay.String() + "~" + d.Jitter.String()
	case keyRate:
		switch r := d.Rate; {
		case r == 0:
			return ""
		case r%1e9 == 0:
			return strconv.FormatInt(r/1e9, 10) + "G"
		case r%1e6 == 0:
			return strconv.FormatInt(r/1e6, 10) + "M"
		case r%1e3 == 0:
			return strconv.FormatInt(r/1e3, 10) + "k"
		default:
			return strconv.FormatInt(r, 10)
		}
	default:
		if p := *d.prob(k); p != 0 {
			return strconv.FormatFloat(p, 'g', -1, 64)
		}
		return ""
	}
}

// String prints s in the grammar Parse reads, canonically: keys in a fixed
// order, unprefixed when both directions agree, values in their shortest
// exact form. Parse(s.String()) gives s back.
func (s Spec) String() string {
	var items []string
	for k := range numKeys {
		rx, tx := s.Rx.value(k), s.Tx.value(k)
		if rx == tx {
			if rx != "" {
				items = append(items, keyNames[k]+"="+rx)
			}
			continue
		}
		if rx != "" {
			items = append(items, "rx:"+keyNames[k]+"="+rx)
		}
		if tx != "" {
			items = append(items, "tx:"+keyNames[k]+"="+tx)
		}
	}
	return strings.Join(items, ",")
}

// Validate checks a Spec built in code rather than parsed, with the same
// rules as Parse.
func (s Spec) Validate() error {
	for _, dir := range []struct {
		name string
		d    Dir
	}{{"rx", s.Rx}, {"tx", s.Tx}} {
		d := dir.d
		for k := range keyDelay {
			if p := *d.prob(k); !(p >= 0 && p <= 1) {
				return fmt.Errorf("faults: %s %s %v: probability must be in [0,1]", dir.name, keyNames[k], p)
			}
		}
		switch {
		case d.Delay < 0 || d.Jitter < 0:
			return fmt.Errorf("faults: %s delay %v~%v: negative duration", dir.name, d.Delay, d.Jitter)
		case d.Jitter > d.Delay:
			return fmt.Errorf("faults: %s delay %v~%v: jitter exceeds the delay", dir.name, d.Delay, d.Jitter)
		case d.Rate < 0 || d.Rate > maxRate:
			return fmt.Errorf("faults: %s rate %d: must be in 0..1000G", dir.name, d.Rate)
		}
	}
	return nil
}
