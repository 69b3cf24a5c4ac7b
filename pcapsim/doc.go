// Package pcapsim replays packet captures through a ustack stack on
// virtual time.
//
// A Backend is a backend.Backend that delivers a capture's frames at their
// timestamps on a clock (backend.Scheduler says when the next one is due)
// and writes what the stack sends to a pcap file through backend/capture's
// Writer. Replay drives a Manual stack over it by discrete-event stepping
// on a backend.VirtualClock, so a replay takes as long as the stack's work,
// not as long as the capture, and the same capture and seed give
// byte-identical output: `ustack replay` is a thin wrapper around it.
//
// # What a replay reads
//
//   - pcap (microsecond and nanosecond timestamps, either byte order,
//     optionally gzip-compressed) and pcapng, through gopacket's pcapgo.
//     Records longer than the snap length in the file header are read
//     whole, up to MaxSnaplen, as tcpdump and Wireshark read them; a
//     record that claims more is taken as unreadable.
//   - Ethernet frames as they are.
//   - Raw IP (LINKTYPE_RAW 101, the BSD DLT_RAW values 12 and 14,
//     LINKTYPE_IPV4 228 and LINKTYPE_IPV6 229), BSD and macOS loopback
//     (LINKTYPE_NULL 0 and LINKTYPE_LOOP 108, tcpdump -i lo0) and Linux
//     cooked captures (SLL 113, SLL2 276), given an Ethernet header: the
//     EtherType from the
//     IP version or the cooked header's protocol field; the source, the
//     cooked header's link-layer address when it is 6 bytes, else a MAC
//     derived from the source IP address (02:00 and the IPv4 address; 06
//     and a hash of an IPv6 one); the destination, the stack's MAC for raw
//     IP unicast and for cooked PACKET_HOST frames, the broadcast or group
//     address for broadcast and multicast, and a MAC derived from the
//     destination IP address for frames between other hosts. Frames a
//     cooked capture marks as sent by its host (PACKET_OUTGOING) are the
//     captured host's own and are skipped unless Config.Outgoing is set.
//   - Any other link type is refused with a *LinkTypeError naming it.
//   - A TCP or UDP packet whose checksum field holds its pseudo-header's
//     sum was captured on its sender (or on a veth) before the NIC was to
//     fill the checksum in, as Linux leaves it: it is fed as the frame the
//     sender's stack made (backend.CsumPartial), which the stack trusts as
//     a receiver on the same host would (Stats.OffloadedChecksums). Any
//     other bad checksum is dropped and counted by the stack.
//   - A truncated or unreadable last record ends the capture: it is
//     reported (Summary.Truncated, a *RecordError) and the records before it
//     are replayed.
//
// # Who the stack is
//
// Replay gives the stack the addresses in Options.Addrs, or adopts the
// capture's receiving host (Adopt): the receiver of the first TCP SYN, else
// of the first unicast IP packet, else the address the first ARP request
// asks for; its MAC, or a generated one (GeneratedMAC) when the capture
// records none. A host chosen by its SYN also takes its address of the
// other family, where a SYN of that family reached the same MAC (a
// dual-stack server, Adoption.Other). A host reached through an IEEE
// 802.1Q tag (a capture on a trunk) puts the stack on that VLAN, as
// backend/vlan does on a device: its answers go out tagged, and frames of
// no VLAN or of another are dropped before it (Options.VLAN chooses). In both modes the capture's other hosts become static
// neighbours at the MAC their frames came from, and an on-link default
// route per address family lets the stack answer hosts outside its prefix
// through them, as the captured host did through its router. The stack
// answers what reaches it: ARP, ICMP echo, resets for closed ports (or
// SYN-ACKs for Options.Listen ports), ICMP errors.
//
// The replayed host's IPv6 addresses are in use from the start (no
// duplicate address detection) and it solicits no routers.
//
// # Conversations
//
// A replay feeds one side of the capture as it was; the stack's answers
// do not steer it. Converse does: for each TCP conversation that begins
// with a SYN, it plays the client's side against the live stack's services
// (Options.Serve: the in-core Echo, Discard and HTTP, or a user's
// net/http handler on goroutines), rewriting the server's address to the
// stack's and the sequence and acknowledgment numbers to follow the
// stack's, each client segment sent once the stack has answered as much
// as the recorded server had. The Report compares per conversation the
// bytes and flags the stack sent with the recording's (`ustack replay
// --converse --report FILE.json`).
//
// # Simulated networks
//
// A Network is stacks (Hosts) on shared Ethernet links (Link) with
// latency, bandwidth, queue limits and seeded faults, stepped by a
// discrete-event scheduler: every stack and application is polled at the
// current instant until none has work left there, and the clock jumps to
// the earliest deadline or arrival. Applications are either in-core (App:
// they run in the stepping goroutine through the stack's nonblocking
// calls, and the same seed gives byte-identical traffic; Run and RunUntil
// step the network) or goroutines using the stacks' ordinary net API
// (Goroutines, stepped by Drive; inside a testing/synctest bubble with
// synctest.Wait their virtual time costs no wall time).
package pcapsim
