package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestLastTimestamp: the last timestamp a prepare owns is where applyBatch
// ends (request i owns len(input)+1), and a malformed entry falls back to
// the bound of one per body byte. A replica keeps it as its next floor, so
// a backup that becomes primary with a clock behind never reuses one of
// the old primary's (before, backups kept the batch's first timestamp, and
// the assertion r.timestamp >= r.commitTimestamp failed at seed 1).
func TestLastTimestamp(t *testing.T) {
	body := make([]byte, 0, 2*wire.HeaderSize+30)
	for _, n := range []int{10, 20} {
		req := wire.Header{Command: wire.CommandRequest, Size: uint32(wire.HeaderSize + n)}
		var b [wire.HeaderSize]byte
		req.Encode(b[:])
		body = append(body, b[:]...)
		body = append(body, make([]byte, n)...)
	}
	const start = 1_000
	h := wire.Header{Timestamp: start, Size: uint32(wire.HeaderSize + len(body))}
	if got, want := lastTimestamp(&h, body), uint64(start-1+11+21); got != want {
		t.Fatalf("last timestamp %d, want %d (start %d, inputs of 10 and 20 bytes)", got, want, start)
	}
	bad := append([]byte(nil), body...)
	bad[wire.HeaderSize+10+wire.OffsetSize+3] = 0xff // the second entry's size: beyond the body
	h.Size = uint32(wire.HeaderSize + len(bad))
	if got, want := lastTimestamp(&h, bad), uint64(start+len(bad)-1); got != want {
		t.Fatalf("malformed batch: last timestamp %d, want the bound %d", got, want)
	}
}

// TestLastTimestampSaturates: a peer's prepare with a timestamp so high its
// window would wrap gives the highest floor, not a panic.
func TestLastTimestampSaturates(t *testing.T) {
	body := make([]byte, 300)
	h := wire.Header{Timestamp: ^uint64(0) - 10, Size: uint32(wire.HeaderSize + len(body))}
	if got := lastTimestamp(&h, body); got != ^uint64(0) {
		t.Fatalf("last timestamp %d, want the maximum", got)
	}
}
