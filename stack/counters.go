package stack

// Counters are the stack's counters: one field per event and per drop
// reason, named after the SNMP MIB objects `netstat -s` prints (RFC 4293,
// RFC 4022, RFC 4113), so that a reader recognises them.
type Counters struct {
	Link   LinkCounters
	ARP    ARPCounters
	NDP    NDPCounters
	IP     IPCounters
	IPv6   IPv6Counters
	ICMP   ICMPCounters
	ICMPv6 ICMPv6Counters
	IGMP   IGMPCounters
	UDP    UDPCounters
	TCP    TCPCounters
	Queue  QueueCounters
}

// QueueCounters count what passes between the queues of a stack with
// several: frames of a flow another queue owns, and frames for the state
// queue 0 owns (neighbours, fragments).
type QueueCounters struct {
	// SteerMisses are TCP segments and ICMP errors about connections
	// that the device steered to a queue other than the connection's
	// owner. Under Toeplitz steering the stack picks ports so that there
	// are none.
	SteerMisses  uint64
	Handoffs     uint64 // frames passed to another queue
	HandoffDrops uint64 // frames dropped because the ring to their queue was full
}

// LinkCounters count Ethernet frames.
type LinkCounters struct {
	InFrames       uint64 // frames received from the backends
	InTruncated    uint64 // shorter than an Ethernet header
	InOtherHost    uint64 // unicast to another MAC address
	InUnknownTypes uint64 // EtherType the stack does not speak
	InVLANDrops    uint64 // tagged with a VLAN the interface is not on
	OutFrames      uint64 // frames the backends accepted
	OutDrops       uint64 // frames the backends refused after retries
	OutAllocFails  uint64 // frames not built because the pool was empty
}

// ARPCounters count ARP (RFC 826) traffic and the neighbour cache.
type ARPCounters struct {
	InRequests      uint64
	InReplies       uint64
	InGratuitous    uint64
	InMalformed     uint64 // failed the header checks
	InNotForUs      uint64 // a request for an address we do not own
	OutRequests     uint64
	OutReplies      uint64
	Conflicts       uint64 // someone else claims one of our addresses
	PendingDrops    uint64 // packets dropped because the resolution queue was full
	ResolveFailures uint64 // packets dropped because resolution timed out
	CacheFull       uint64 // entries not created because the cache was full
}

// NDPCounters count IPv6 Neighbor Discovery (RFC 4861) and duplicate
// address detection (RFC 4862) beyond the ICMPv6 message counts.
type NDPCounters struct {
	InInvalid       uint64 // failed RFC 4861's validity checks: hop limit not 255, code, length, options, addresses
	InNotForUs      uint64 // a solicitation for an address we do not own
	DADConflicts    uint64 // one of our addresses is in use by another node
	DADLoopedBack   uint64 // our own duplicate address probes the link sent back (RFC 7527 nonce)
	PendingDrops    uint64 // packets dropped because the resolution queue was full
	ResolveFailures uint64 // packets dropped because resolution timed out
	CacheFull       uint64 // entries not created because the cache was full
	RouterChanges   uint64 // default routers and on-link prefixes learned, refreshed with a new lifetime or lost
}

// IPCounters count IPv4 datagrams (the ipSystemStats objects of RFC 4293).
type IPCounters struct {
	InReceives      uint64
	InHdrErrors     uint64 // version, header length, TTL on delivery, options
	InCsumErrors    uint64
	InTruncatedPkts uint64 // total length beyond the frame
	InAddrErrors    uint64 // not for us (we do not forward)
	InMartians      uint64 // impossible source address: broadcast, multicast, loopback from a wire, ours
	InSourceRouted  uint64 // loose or strict source route option: dropped, as Linux does by default
	InUnknownProtos uint64
	InDiscards      uint64
	InDelivers      uint64
	InBcastPkts     uint64
	InMcastPkts     uint64
	OutRequests     uint64
	OutNoRoutes     uint64
	OutDiscards     uint64
	ReasmReqds      uint64
	ReasmOKs        uint64
	ReasmFails      uint64
	ReasmTimeout    uint64
	ReasmOverlaps   uint64
	FragOKs         uint64
	FragFails       uint64 // DF set and too big, or no buffers
	FragCreates     uint64
}

// IPv6Counters count IPv6 datagrams (RFC 4293's ipSystemStats objects
// for IPv6, as Linux's /proc/net/snmp6 shows them as Ip6*).
type IPv6Counters struct {
	InReceives      uint64
	InHdrErrors     uint64 // extension headers and their options, source or destination impossible on a wire
	InTruncatedPkts uint64 // payload length beyond the frame
	InAddrErrors    uint64 // not for us (we do not forward) or unicast in a link-layer multicast
	InUnknownProtos uint64 // next header we do not speak: answered with a parameter problem
	InDelivers      uint64
	InMcastPkts     uint64
	OutRequests     uint64
	OutNoRoutes     uint64
	OutDiscards     uint64
	OutMcastPkts    uint64
	ReasmReqds      uint64
	ReasmOKs        uint64
	ReasmFails      uint64
	ReasmTimeout    uint64
	ReasmOverlaps   uint64 // RFC 5722: the datagram was dropped
	FragOKs         uint64
	FragFails       uint64
	FragCreates     uint64
}

// ICMPCounters count ICMPv4 messages (RFC 4293 icmpStatsTable and
// icmpMsgStatsTable).
type ICMPCounters struct {
	InMsgs          uint64
	InErrors        uint64 // malformed or truncated
	InCsumErrors    uint64
	InDestUnreachs  uint64
	InTimeExcds     uint64
	InParmProbs     uint64
	InRedirects     uint64 // followed or, when they fail RFC 1122's checks, counted in InErrors too
	InEchos         uint64
	InEchoReps      uint64
	InOther         uint64
	OutMsgs         uint64
	OutDestUnreachs uint64
	OutTimeExcds    uint64
	OutEchos        uint64
	OutEchoReps     uint64
	OutRateLimited  uint64 // errors not sent because of the rate limit
}

// IGMPCounters count IGMP messages (RFC 3376, RFC 2236).
type IGMPCounters struct {
	InMsgs     uint64
	InErrors   uint64 // malformed, or a bad checksum
	InQueries  uint64
	OutReports uint64 // reports and leaves
}

// ICMPv6Counters count ICMPv6 messages (RFC 4293 icmpStatsTable and
// icmpMsgStatsTable for IPv6, named as Linux's Icmp6* counters).
type ICMPv6Counters struct {
	InMsgs                    uint64
	InErrors                  uint64 // malformed or truncated
	InCsumErrors              uint64
	InDestUnreachs            uint64
	InPktTooBigs              uint64
	InTimeExcds               uint64
	InParmProblems            uint64
	InEchos                   uint64
	InEchoReplies             uint64
	InGroupMembQueries        uint64
	InGroupMembResponses      uint64 // MLDv1 and MLDv2 reports
	InGroupMembReductions     uint64
	InRouterSolicits          uint64
	InRouterAdvertisements    uint64
	InNeighborSolicits        uint64
	InNeighborAdvertisements  uint64
	InRedirects               uint64
	InOther                   uint64
	OutMsgs                   uint64
	OutDestUnreachs           uint64
	OutPktTooBigs             uint64
	OutTimeExcds              uint64
	OutParmProblems           uint64
	OutEchos                  uint64
	OutEchoReplies            uint64
	OutRouterSolicits         uint64
	OutNeighborSolicits       uint64
	OutNeighborAdvertisements uint64
	OutGroupMembResponses     uint64 // MLDv2 reports
	OutRateLimited            uint64 // errors not sent because of the rate limit
}

// UDPCounters count UDP datagrams (RFC 4113).
type UDPCounters struct {
	InDatagrams  uint64
	NoPorts      uint64
	InErrors     uint64 // malformed
	InCsumErrors uint64
	RcvbufErrors uint64 // the socket's receive queue was full
	OutDatagrams uint64
	SndbufErrors uint64
}

// TCPCounters count TCP segments and connections (RFC 4022 tcp group and
// Linux's TcpExt, whose names netstat -s prints).
type TCPCounters struct {
	ActiveOpens  uint64
	PassiveOpens uint64
	AttemptFails uint64
	EstabResets  uint64
	InSegs       uint64
	OutSegs      uint64
	// ECN (RFC 3168): data segments that came marked Congestion
	// Experienced, and window reductions for the peer's ECN-Echo.
	InCEMarked    uint64
	ECNReductions uint64
	RetransSegs   uint64
	InErrs        uint64 // malformed, bad options, not unicast
	InCsumErrors  uint64
	InBadOptions  uint64
	OutRsts       uint64
	InRsts        uint64
	NoPorts       uint64 // segments for no connection or listener, answered with RST

	ListenOverflows  uint64 // SYNs dropped because the accept queue was full
	ListenDrops      uint64 // SYNs dropped because the SYN queue was full and cookies are off
	SynCookiesSent   uint64
	SynCookiesRecv   uint64
	SynCookiesFailed uint64
	SynCookiesShed   uint64 // cookie SYNs left unanswered while the queue was behind
	LandDrops        uint64

	PAWSDrops           uint64 // RFC 7323 §5: old timestamps
	OutOfWindow         uint64 // segments outside the receive window
	OutOfWindowSkipped  uint64 // of those, ACKs without data left unanswered: one answer per 500 ms per connection
	ChallengeACKs       uint64 // RFC 5961
	ChallengeACKLimited uint64
	AckOfUnsent         uint64 // RFC 5961 §5.2: ACK beyond what we sent
	AckTooOld           uint64
	DataAfterFin        uint64
	DataOnClosed        uint64 // data for a connection the application closed: reset
	RcvWindowTrims      uint64
	OfoQueue            uint64 // out-of-order segments kept
	OfoDrops            uint64 // out-of-order segments dropped: too many holes
	DSACKs              uint64
	DSACKUndos          uint64 // recoveries whose every retransmission came back as a duplicate: the window reduction undone (RFC 3708)
	ICMPOutOfWindow     uint64 // RFC 5927 §4.1: ICMP errors quoting no sequence number in flight
	PMTUUpdates         uint64
	TimeWaitReuses      uint64 // RFC 6191: a new SYN took over a TIME-WAIT connection

	FastRetrans       uint64
	LostRetransmits   uint64 // retransmissions found lost by SACKs of data sent after them
	TailLossProbes    uint64 // RFC 8985 §7: probes sent at the end of a flight
	TLPRecoveries     uint64 // probes that repaired a loss (cwnd reduced once)
	ReorderTimeouts   uint64 // SACK holes that outlived the reordering window: recovery by time
	RTOs              uint64
	Timeouts          uint64 // connections failed by retransmission timeouts
	WindowProbes      uint64
	DelayedACKs       uint64
	KeepAliveProbes   uint64
	KeepAliveTimeouts uint64
	AbortOnClose      uint64
	OrphanDrops       uint64
	ConnLimitDrops    uint64 // connections refused by TCPConfig.MaxConnections

	SentByReference uint64 // segments sent from the send ring by reference (Offloads.SG)
	HeldSegments    uint64 // received segments whose frames were kept until read, not copied
	HoldCapped      uint64 // large segments copied: the queue held a quarter of the device's buffers
	AbortOnMemory   uint64 // connections reset or refused by LimitsConfig.BufferMemory
}
