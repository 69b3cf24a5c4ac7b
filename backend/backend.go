// Package backend is the contract between the ustack stack and whatever
// carries its Ethernet frames: a DPDK port, a TAP device, a pcap replay or an
// in-memory pipe. It moves frames in batches and owns their memory; see Frame
// for the ownership rules.
//
// A backend has one or more queues. Each queue is driven by exactly one stack
// loop, so the per-queue methods (Recv, Alloc, Send, Wait) are called from one
// goroutine per queue; Wake, Caps, Outstanding and Close may be called from
// any goroutine.
package backend

import (
	"errors"
	"net"
)

// Backend moves Ethernet frames between the stack and a wire.
type Backend interface {
	// Caps describes the device. It does not change after the backend is
	// opened.
	Caps() Caps

	// Recv lends up to len(frames) received frames of queue q to the caller,
	// writing them to the front of frames, and returns how many. It never
	// blocks. The caller releases each frame (Release) when done with it.
	Recv(q int, frames []*Frame) (int, error)

	// Alloc fills frames with new frames for sending on queue q, each able
	// to hold size bytes (a chain when size exceeds one buffer) after
	// Headroom bytes of headroom, with length 0. It returns how many it
	// allocated; fewer than len(frames) means the pool is short.
	Alloc(q int, frames []*Frame, size int) int

	// Send queues frames for transmission on queue q and returns how many
	// it accepted, always a prefix of frames. Accepted frames belong to the
	// backend; the rest stay the caller's, to retry or release.
	Send(q int, frames []*Frame) (int, error)

	// Wait blocks until queue q may have frames to receive, the clock
	// passes deadline (nanoseconds; 0 for no deadline), or Wake(q) is
	// called. A busy-polling backend returns at once.
	Wait(q int, deadline int64) error

	// Wake makes a current or the next Wait(q) return.
	Wake(q int)

	// Outstanding is the number of buffers allocated or lent and not yet
	// returned. A quiescent backend whose users released everything reports
	// zero.
	Outstanding() int

	// Close stops the device and releases its resources. Frames the caller
	// still owns may be released after Close.
	Close() error
}

// Scheduler is implemented by backends whose frames arrive at known instants
// of their clock (the pipe with latency, a pcap replay, fault injection with
// delay). A discrete-event simulator advances virtual time to the earliest of
// the stacks' deadlines and these arrivals.
type Scheduler interface {
	// NextArrival reports when the next frame for queue q becomes
	// receivable, if one is pending.
	NextArrival(q int) (at int64, ok bool)
}

// Steering is how a device spreads received frames over its queues.
type Steering uint8

const (
	// SteerNone: one queue, or no known rule.
	SteerNone Steering = iota
	// SteerToeplitz: RSS with a Toeplitz hash over the fields in
	// ToeplitzFields, indexed into ToeplitzTable by its low bits.
	SteerToeplitz
	// SteerTxQueue: replies come back on the queue the flow last sent on
	// (TAP multiqueue).
	SteerTxQueue
	// SteerOpaque: the device spreads flows by a rule we cannot compute
	// (af_packet fanout).
	SteerOpaque
)

func (s Steering) String() string {
	switch s {
	case SteerNone:
		return "none"
	case SteerToeplitz:
		return "toeplitz"
	case SteerTxQueue:
		return "tx-queue"
	case SteerOpaque:
		return "opaque"
	}
	return "unknown"
}

// HashFields are the header fields a Toeplitz hash covers.
type HashFields uint8

const (
	HashIPv4  HashFields = 1 << iota // source and destination IPv4 addresses
	HashTCPv4                        // IPv4 addresses and TCP ports
	HashUDPv4                        // IPv4 addresses and UDP ports
	HashIPv6                         // source and destination IPv6 addresses
	HashTCPv6                        // IPv6 addresses and TCP ports
	HashUDPv6                        // IPv6 addresses and UDP ports
)

// Offloads are the work a device does for the stack.
type Offloads struct {
	// RxCsum: received frames carry CsumVerified or CsumBad for IPv4 and
	// TCP/UDP checksums the device checked.
	RxCsum bool
	// TxCsum: the device completes CsumPartial transport checksums and
	// IPv4 header checksums of frames it sends.
	TxCsum bool
	// TSO: the device segments GSOTCPv4/GSOTCPv6 frames up to TSOMax bytes.
	TSO    bool
	TSOMax int
	// GRO: received frames may be coalesced TCP frames larger than the MTU,
	// marked with GSO and GSOSize.
	GRO bool
	// SG: Send takes chains whose buffers are not the backend's (the
	// stack's own memory, under an Owner of the stack's) and reads them
	// where they are, as a virtio NIC gathers a packet from the guest's
	// pages: the stack then sends TCP payload straight from its send
	// buffer instead of copying it into a buffer of the backend's.
	// Whoever holds such a frame reads it and releases it; it never writes
	// to its bytes.
	SG bool
}

// Caps describes a device.
type Caps struct {
	Name string
	MAC  net.HardwareAddr
	// MTU is the largest IP packet the link carries (Ethernet payload).
	MTU int
	// Queues is the number of receive/transmit queue pairs.
	Queues int
	// BufSize is the data room of one buffer; frames longer than that are
	// chains.
	BufSize int
	// Buffers is how many buffers the frames one queue receives come
	// from, 0 when unknown or unbounded. The stack holds at most a quarter
	// of them for data not yet read.
	Buffers int
	// Offloads the device performs.
	Offloads Offloads
	// BusyPoll: Wait returns at once while the queue is busy and each
	// queue is polled from one OS thread it may register with the device
	// (a DPDK lcore), so the stack locks each queue's loop to its thread.
	// A blocking backend leaves it false: a locked thread would make every
	// wake-up an OS thread hand-off.
	BusyPoll bool
	// Steering is the receive steering rule; the Toeplitz fields say how to
	// compute it when Steering is SteerToeplitz.
	Steering       Steering
	ToeplitzKey    []byte
	ToeplitzTable  []uint16
	ToeplitzFields HashFields
}

// Errors a backend returns.
var (
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("backend closed")
	// ErrQueue: a queue index out of range.
	ErrQueue = errors.New("no such queue")
	// ErrGone: the device has gone away (a TAP device deleted under the
	// backend, a NIC unplugged) and nothing will pass on it again. Wait,
	// Recv and Send return errors that wrap it from then on.
	ErrGone = errors.New("device is gone")
)
