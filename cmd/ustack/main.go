// Command ustack runs the ustack TCP/IP stack: `ustack demo` is the main
// job, two stacks on an in-memory link moving an HTTP transfer.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "two stacks on an in-memory link: ping, UDP and an HTTP transfer, verified", runDemo},
		{"serve", "run the stack on a device with built-in services (ICMP echo, HTTP, echo, discard)", runServe},
		{"get", "fetch a URL through the stack; prints sha256 and bytes", runGet},
		{"replay", "feed a capture through the stack on virtual time", runReplay},
		{"bench", "measure two stacks over the in-memory link: bulk, rr, crr, conns", runBench},
		{"stats", "print a running ustack's counters (from its --metrics address)", runStats},
		{"version", "print the version", func(_ []string, stdout, _ io.Writer) error { fmt.Fprintln(stdout, "ustack", version); return nil }},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ustack COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`ustack COMMAND -h` lists a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors already reported by the flag package.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			}
			fmt.Fprintf(stderr, "ustack %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "ustack: unknown command %q (try ustack -h)\n", args[0])
	return 2
}

// newFlags makes a command's flag set: errors are one line naming the
// flag, and -h lists every flag.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ustack "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	_ = stderr
	return fs
}

// parseFlags parses args, printing -h help to stdout and a one-line error
// to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage of %s:\n", fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// logLevel parses --log-level.
func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
