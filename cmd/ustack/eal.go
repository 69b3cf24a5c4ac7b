package main

import (
	"errors"
	"strings"
)

// splitEAL splits --eal's value into arguments as a POSIX shell splits
// words: on blanks, with single quotes taking what they hold literally,
// double quotes doing the same but for \" \\ \$ and \`, and a backslash
// outside quotes taking the next character as it is. So a value may be
// copied from a dpdk-testpmd command line, quotes and all:
// --vdev='net_pcap0,rx_pcap=/tmp/a b.pcap' is one argument without its
// quotes. Nothing else of the shell's is done (no variables, no globs).
func splitEAL(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New("a double quote is not closed")
			}
			inWord = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("a backslash ends it")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
