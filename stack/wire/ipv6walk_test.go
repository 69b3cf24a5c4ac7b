package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ext returns an 8-byte extension header in the common format.
func ext(nh uint8) []byte { return []byte{nh, 0, 1, 4, 0, 0, 0, 0} }

// frag returns a Fragment header.
func frag(nh uint8, offset int, more bool, id uint32) []byte {
	b := make([]byte, 8)
	IPv6FragmentFields{NextHeader: nh, Offset: offset, More: more, ID: id}.Emit(b)
	return b
}

func routing(nh, typ, left uint8) []byte { return []byte{nh, 0, typ, left, 0, 0, 0, 0} }

func TestWalkIPv6(t *testing.T) {
	tcp := make([]byte, 20)
	tests := []struct {
		name    string
		nh      uint8
		payload []byte
		check   func(t *testing.T, c IPv6Chain)
		wantErr error
	}{
		{name: "no extension headers", nh: IPProtoTCP, payload: tcp, check: func(t *testing.T, c IPv6Chain) {
			assert.Equal(t, uint8(IPProtoTCP), c.Proto)
			assert.Equal(t, 40, c.Offset)
			assert.Equal(t, 6, c.ProtoPointer)
			assert.Equal(t, 0, c.NumExt)
		}},
		{name: "hop-by-hop then destination options", nh: IPProtoHopByHop,
			payload: cat(ext(IPProtoDestOpts), ext(IPProtoUDP), make([]byte, 8)),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoUDP), c.Proto)
				assert.Equal(t, 56, c.Offset)
				assert.Equal(t, 48, c.ProtoPointer)
				require.Equal(t, 2, c.NumExt)
				assert.Equal(t, IPv6Ext{Type: IPProtoHopByHop, Offset: 40, Len: 8}, c.Ext[0])
				assert.Equal(t, IPv6Ext{Type: IPProtoDestOpts, Offset: 48, Len: 8}, c.Ext[1])
			}},
		{name: "routing header reported", nh: IPProtoRouting, payload: cat(routing(IPProtoTCP, 0, 2), tcp),
			check: func(t *testing.T, c IPv6Chain) {
				assert.True(t, c.HasRouting)
				assert.Equal(t, uint8(0), c.RoutingType)
				assert.Equal(t, uint8(2), c.SegmentsLeft)
				assert.Equal(t, 40, c.RoutingOffset)
				assert.Equal(t, uint8(IPProtoTCP), c.Proto)
				assert.Equal(t, 48, c.Offset)
			}},
		{name: "atomic fragment is walked through", nh: IPProtoFragment, payload: cat(frag(IPProtoTCP, 0, false, 77), tcp),
			check: func(t *testing.T, c IPv6Chain) {
				assert.True(t, c.HasFragment)
				assert.Equal(t, IPv6FragmentInfo{Offset: 0, More: false, ID: 77, HeaderOffset: 40}, c.Fragment)
				assert.Equal(t, uint8(IPProtoTCP), c.Proto)
				assert.Equal(t, 48, c.Offset)
				assert.Equal(t, 40, c.ProtoPointer)
			}},
		{name: "first fragment is walked through", nh: IPProtoFragment,
			payload: cat(frag(IPProtoDestOpts, 0, true, 9), ext(IPProtoUDP), make([]byte, 8)),
			check: func(t *testing.T, c IPv6Chain) {
				assert.True(t, c.Fragment.More)
				assert.Equal(t, uint8(IPProtoUDP), c.Proto)
				assert.Equal(t, 56, c.Offset)
			}},
		{name: "later fragment stops at its data", nh: IPProtoFragment,
			// The data happens to look like a header; it must not be walked.
			payload: cat(frag(IPProtoDestOpts, 1448, false, 9), []byte{IPProtoTCP, 200, 0, 0}),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, 1448, c.Fragment.Offset)
				assert.Equal(t, uint8(IPProtoDestOpts), c.Proto)
				assert.Equal(t, 48, c.Offset)
				assert.Equal(t, 40, c.ProtoPointer)
				assert.Equal(t, 1, c.NumExt)
			}},
		{name: "later fragment whose next header is fragment", nh: IPProtoFragment,
			payload: cat(frag(IPProtoFragment, 8, true, 1), make([]byte, 8)),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoFragment), c.Proto)
				assert.Equal(t, 48, c.Offset)
			}},
		{name: "second fragment header not entered", nh: IPProtoFragment,
			payload: cat(frag(IPProtoFragment, 0, true, 1), frag(IPProtoTCP, 0, false, 2)),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoFragment), c.Proto)
				assert.Equal(t, 48, c.Offset)
				assert.Equal(t, 40, c.ProtoPointer)
				assert.Equal(t, uint32(1), c.Fragment.ID)
			}},
		{name: "hop-by-hop after another header is unrecognised", nh: IPProtoDestOpts,
			payload: cat(ext(IPProtoHopByHop), ext(IPProtoTCP)),
			check: func(t *testing.T, c IPv6Chain) {
				// RFC 8200 §4.3: Parameter Problem code 1 pointing at the
				// Next Header field of the destination options header.
				assert.Equal(t, uint8(IPProtoHopByHop), c.Proto)
				assert.Equal(t, 48, c.Offset)
				assert.Equal(t, 40, c.ProtoPointer)
			}},
		{name: "unknown next header pointer", nh: IPProtoHopByHop, payload: cat(ext(IPProtoDestOpts), ext(253), []byte{1, 2}),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(253), c.Proto)
				assert.Equal(t, 56, c.Offset)
				assert.Equal(t, 48, c.ProtoPointer)
			}},
		{name: "authentication header not entered", nh: IPProtoAH, payload: ext(IPProtoTCP),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoAH), c.Proto)
				assert.Equal(t, 6, c.ProtoPointer)
			}},
		{name: "no next header", nh: IPProtoDestOpts, payload: ext(IPProtoNoNextHeader),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoNoNextHeader), c.Proto)
				assert.Equal(t, 48, c.Offset)
			}},
		{name: "upper layer absent", nh: IPProtoDestOpts, payload: ext(IPProtoTCP),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, uint8(IPProtoTCP), c.Proto)
				assert.Equal(t, 48, c.Offset, "offset is the end of the payload; the TCP view finds it short")
			}},
		{name: "long header", nh: IPProtoDestOpts, payload: cat([]byte{IPProtoUDP, 2}, make([]byte, 22), make([]byte, 8)),
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, 64, c.Offset)
				assert.Equal(t, 24, c.Ext[0].Len)
			}},
		{name: "extension header cut short", nh: IPProtoDestOpts, payload: []byte{6, 1, 0, 0, 0, 0, 0, 0}, wantErr: ErrTruncated},
		{name: "extension header without length", nh: IPProtoHopByHop, payload: []byte{6}, wantErr: ErrTruncated},
		{name: "fragment header cut short", nh: IPProtoFragment, payload: []byte{6, 0, 0, 0}, wantErr: ErrTruncated},
		{name: "chain cut short in first fragment", nh: IPProtoFragment,
			payload: cat(frag(IPProtoDestOpts, 0, true, 5), []byte{6, 3, 0, 0, 0, 0, 0, 0}), wantErr: ErrTruncated,
			check: func(t *testing.T, c IPv6Chain) {
				// RFC 7112: the stack may answer code 3 from what was walked.
				assert.True(t, c.HasFragment)
				assert.Equal(t, uint8(IPProtoDestOpts), c.Proto)
			}},
		{name: "too many headers", nh: IPProtoDestOpts,
			payload: cat(ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(60), ext(6)),
			wantErr: ErrTooManyHeaders,
			check: func(t *testing.T, c IPv6Chain) {
				assert.Equal(t, MaxIPv6ExtHeaders, c.NumExt)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := WalkIPv6(IPv6(ipv6Packet(tt.nh, tt.payload)))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestWalkIPv6StaysInsidePayload(t *testing.T) {
	// A destination options header whose length would reach into the
	// Ethernet padding after the payload.
	b := cat(ipv6Packet(IPProtoDestOpts, []byte{6, 1, 0, 0, 0, 0, 0, 0}), make([]byte, 8))
	_, err := WalkIPv6(IPv6(b))
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestWalkIPv6ChecksFixedHeader(t *testing.T) {
	_, err := WalkIPv6(IPv6(make([]byte, 39)))
	assert.ErrorIs(t, err, ErrTruncated)
	_, err = WalkIPv6(IPv6(make([]byte, 40)))
	assert.ErrorIs(t, err, ErrBadVersion)
}
