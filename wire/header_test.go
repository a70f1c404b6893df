package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"
)

// TestHeaderLayout pins the byte offset and width of every field: the header
// is an on-wire and on-disk format, so moving a field is a breaking change.
func TestHeaderLayout(t *testing.T) {
	type span struct {
		name         string
		offset, size int
	}
	spans := []span{
		{"checksum", OffsetChecksum, 16},
		{"checksum_body", OffsetChecksumBody, 16},
		{"cluster", OffsetCluster, 16},
		{"parent", OffsetParent, 16},
		{"client", OffsetClient, 16},
		{"context", OffsetContext, 16},
		{"op", OffsetOp, 8},
		{"commit", OffsetCommit, 8},
		{"timestamp", OffsetTimestamp, 8},
		{"session", OffsetSession, 8},
		{"op_min", OffsetOpMin, 8},
		{"size", OffsetSize, 4},
		{"view", OffsetView, 4},
		{"log_view", OffsetLogView, 4},
		{"request", OffsetRequest, 4},
		{"protocol", OffsetProtocol, 2},
		{"command", OffsetCommand, 1},
		{"replica", OffsetReplica, 1},
		{"operation", OffsetOperation, 1},
		{"reason", OffsetReason, 1},
		{"reserved", OffsetReserved, ReservedSize},
	}
	// Fields tile the header: contiguous, no gap, no overlap, naturally aligned.
	next := 0
	for _, s := range spans {
		if s.offset != next {
			t.Fatalf("%s at offset %d, want %d (gap or overlap)", s.name, s.offset, next)
		}
		if s.name != "reserved" && s.offset%s.size != 0 {
			t.Errorf("%s at offset %d is not aligned to its size %d", s.name, s.offset, s.size)
		}
		next += s.size
	}
	if next != HeaderSize || HeaderSize != 256 {
		t.Fatalf("fields cover %d bytes, header size is %d, want 256", next, HeaderSize)
	}
	if ReservedSize != 98 {
		t.Fatalf("reserved size %d, want 98", ReservedSize)
	}

	// Every field lands little-endian at its offset.
	h := Header{
		Checksum:     Uint128{Lo: 0x0101010101010101, Hi: 0x0202020202020202},
		ChecksumBody: Uint128{Lo: 0x0303030303030303, Hi: 0x0404040404040404},
		Cluster:      Uint128{Lo: 0x0505050505050505, Hi: 0x0606060606060606},
		Parent:       Uint128{Lo: 0x0707070707070707, Hi: 0x0808080808080808},
		Client:       Uint128{Lo: 0x0909090909090909, Hi: 0x0a0a0a0a0a0a0a0a},
		Context:      Uint128{Lo: 0x0b0b0b0b0b0b0b0b, Hi: 0x0c0c0c0c0c0c0c0c},
		Op:           0x1112131415161718,
		Commit:       0x2122232425262728,
		Timestamp:    0x3132333435363738,
		Session:      0x4142434445464748,
		OpMin:        0x5152535455565758,
		Size:         0x61626364,
		View:         0x71727374,
		LogView:      0x81828384,
		Request:      0x91929394,
		Protocol:     0xa1a2,
		Command:      0xb1,
		Replica:      0xc1,
		Operation:    0xd1,
		Reason:       0xe1,
	}
	for i := range h.Reserved {
		h.Reserved[i] = byte(0xf0 + i%16)
	}
	var b [HeaderSize]byte
	h.Encode(b[:])
	le := binary.LittleEndian
	checks := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"checksum.lo", le.Uint64(b[0:]), h.Checksum.Lo},
		{"checksum.hi", le.Uint64(b[8:]), h.Checksum.Hi},
		{"checksum_body.lo", le.Uint64(b[16:]), h.ChecksumBody.Lo},
		{"checksum_body.hi", le.Uint64(b[24:]), h.ChecksumBody.Hi},
		{"cluster.lo", le.Uint64(b[32:]), h.Cluster.Lo},
		{"cluster.hi", le.Uint64(b[40:]), h.Cluster.Hi},
		{"parent.lo", le.Uint64(b[48:]), h.Parent.Lo},
		{"parent.hi", le.Uint64(b[56:]), h.Parent.Hi},
		{"client.lo", le.Uint64(b[64:]), h.Client.Lo},
		{"client.hi", le.Uint64(b[72:]), h.Client.Hi},
		{"context.lo", le.Uint64(b[80:]), h.Context.Lo},
		{"context.hi", le.Uint64(b[88:]), h.Context.Hi},
		{"op", le.Uint64(b[96:]), h.Op},
		{"commit", le.Uint64(b[104:]), h.Commit},
		{"timestamp", le.Uint64(b[112:]), h.Timestamp},
		{"session", le.Uint64(b[120:]), h.Session},
		{"op_min", le.Uint64(b[128:]), h.OpMin},
		{"size", uint64(le.Uint32(b[136:])), uint64(h.Size)},
		{"view", uint64(le.Uint32(b[140:])), uint64(h.View)},
		{"log_view", uint64(le.Uint32(b[144:])), uint64(h.LogView)},
		{"request", uint64(le.Uint32(b[148:])), uint64(h.Request)},
		{"protocol", uint64(le.Uint16(b[152:])), uint64(h.Protocol)},
		{"command", uint64(b[154]), uint64(h.Command)},
		{"replica", uint64(b[155]), uint64(h.Replica)},
		{"operation", uint64(b[156]), uint64(h.Operation)},
		{"reason", uint64(b[157]), uint64(h.Reason)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: encoded %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !bytes.Equal(b[158:], h.Reserved[:]) {
		t.Errorf("reserved bytes not at offset 158")
	}

	var back Header
	back.Decode(b[:])
	if back != h {
		t.Fatalf("decode(encode(h)) != h:\n got %+v\nwant %+v", back, h)
	}
}

func TestSealAndDecode(t *testing.T) {
	for c := Command(1); c < commandCount; c++ {
		t.Run(c.String(), func(t *testing.T) {
			h := validHeader(c)
			msg := sealed(&h)
			var got Header
			if err := DecodeHeader(msg, &got, &testConfig); err != nil {
				t.Fatalf("valid %s rejected: %v", c, err)
			}
			if got != h {
				t.Fatalf("decoded header differs:\n got %+v\nwant %+v", got, h)
			}
			if err := VerifyBody(&got, msg[HeaderSize:]); err != nil {
				t.Fatalf("body rejected: %v", err)
			}
			// SealHeader on a separate body gives the same checksums.
			h2 := h
			h2.Checksum, h2.ChecksumBody = Uint128{}, Uint128{}
			SealHeader(&h2, msg[HeaderSize:])
			if h2 != h {
				t.Fatalf("SealHeader differs from Seal")
			}
		})
	}
}

func TestSealPanicsOnSizeMismatch(t *testing.T) {
	h := validHeader(CommandPing)
	defer func() {
		if recover() == nil {
			t.Fatal("Seal accepted a buffer whose length differs from Size")
		}
	}()
	Seal(&h, make([]byte, HeaderSize+1))
}

func TestHeaderStructHasNoHiddenState(t *testing.T) {
	// The Go struct is not the wire layout, but it must stay a plain value
	// (comparable, copyable) so decode/encode round trips compare with ==.
	if unsafe.Sizeof(Header{}) < HeaderSize {
		t.Fatalf("Header struct smaller than the wire header")
	}
}

func TestCommandAndOperationNames(t *testing.T) {
	seen := map[string]bool{}
	for c := Command(0); c < commandCount; c++ {
		name := c.String()
		if name == "" || seen[name] {
			t.Errorf("command %d has empty or duplicate name %q", c, name)
		}
		seen[name] = true
	}
	if got := Command(200).String(); got != "unknown(200)" {
		t.Errorf("unknown command name %q", got)
	}
	if Command(0).Valid() || Command(commandCount).Valid() || !CommandPrepare.Valid() {
		t.Errorf("Command.Valid wrong at the edges")
	}
	if got := Operation(130).String(); got != "user(130)" {
		t.Errorf("user operation name %q", got)
	}
	if got := Operation(50).String(); got != "unknown(50)" {
		t.Errorf("unknown operation name %q", got)
	}
}
