package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"
)

// applyConfig reads a TOML file whose keys are the command's flag names
// (addr = ["10.0.0.2/24"], tap = "ustack0", http = ":80") and sets every
// flag the command line did not: flags override the file. Unknown keys and
// bad values are refused with the key and the value named, before any
// device is opened.
func applyConfig(fs *flag.FlagSet, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	md, err := toml.Decode(string(raw), &m)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("--config %s: line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("--config %s: %w", path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	keys := make([]string, 0, len(m))
	for _, k := range md.Keys() {
		keys = append(keys, k.String())
	}
	for _, key := range keys {
		f := fs.Lookup(key)
		if f == nil || key == "config" {
			return fmt.Errorf("--config %s: unknown key %q", path, key)
		}
		if set[key] {
			continue
		}
		values, err := flagValues(m[key])
		if err != nil {
			return fmt.Errorf("--config %s: %s = %v: %v", path, key, m[key], err)
		}
		for _, v := range values {
			if err := fs.Set(key, v); err != nil {
				return fmt.Errorf("--config %s: %s = %q: %v", path, key, v, unwrapFlagErr(err))
			}
		}
	}
	return nil
}

// flagValues turns a TOML value into flag strings: a list gives one value
// per element (for repeatable flags such as addr and route).
func flagValues(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			s, err := flagValues(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	case map[string]any:
		return nil, errors.New("tables are not flags")
	case string:
		return []string{x}, nil
	default:
		return []string{fmt.Sprint(x)}, nil
	}
}

// unwrapFlagErr keeps a flag.Value's own message.
func unwrapFlagErr(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
