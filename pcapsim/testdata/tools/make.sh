#!/bin/sh
# Makes the captures of pcapsim/testdata written by Wireshark's own tools
# (Debian's tshark package) from the hex dumps beside this script, so that
# replays are tested on files pcapsim's tests did not write. text2pcap
# reads whole seconds; editcap moves the frames to sub-second instants.
# Run from pcapsim/testdata: sh tools/make.sh
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text2pcap -q -F pcap -l 113 -t '%Y-%m-%dT%H:%M:%S' tools/sll.txt "$tmp/sll.pcap"
editcap -F pcap -t 0.250017 "$tmp/sll.pcap" sll-tools.pcap
text2pcap -q -F pcapng -l 1 -t '%Y-%m-%dT%H:%M:%S' tools/nanosecond.txt "$tmp/ns.pcapng"
editcap -F pcapng -t 0.123456789 -S -1.000000001 "$tmp/ns.pcapng" nanosecond-pcapng-tools.pcapng
editcap -F nsecpcap nanosecond-pcapng-tools.pcapng nanosecond-pcap-tools.pcap
