package statemachine_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// logMachine's snapshot is a 4-byte header and a log that only grows; it
// records how many log bytes its last SnapshotOver left in place.
type logMachine struct {
	log  []byte
	last int // log bytes of the previous SnapshotOver
	kept int
}

func (m *logMachine) Validate(wire.Operation, []byte) error                           { return nil }
func (m *logMachine) Apply(*statemachine.Context, wire.Operation, []byte, []byte) int { return 0 }
func (m *logMachine) ReplySizeMax(wire.Operation, int) int                            { return 0 }
func (m *logMachine) Digest() wire.Uint128                                            { return wire.Uint128{} }
func (m *logMachine) Restore([]byte) error                                            { return nil }
func (m *logMachine) SnapshotSizeMax() int                                            { return 1 << 20 }
func (m *logMachine) Snapshot(dst []byte) []byte {
	dst, _ = m.SnapshotOver(dst, nil, 0, 0)
	return dst
}
func (m *logMachine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return m.SnapshotOver(dst, ends, 0, 0)
}
func (m *logMachine) SnapshotStable() (int, int) { return 1, len(m.log) }
func (m *logMachine) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return append(dst, m.log[from:to]...)
}
func (m *logMachine) SnapshotOver(dst []byte, ends []int, prev, _ int) ([]byte, []int) {
	start := len(dst)
	m.kept = 0
	if prev >= 4+m.last && cap(dst)-start >= 4+len(m.log) {
		m.kept = m.last
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(m.log)))
	dst = dst[:start+4+len(m.log)]
	copy(dst[start+4+m.kept:], m.log[m.kept:])
	m.last = len(m.log)
	return dst, append(ends, 4)
}

// TestAppendWrapped: a wrapper's snapshot keeps the inner machine's
// segments (shifted by its length), ends the inner snapshot with a segment
// end, forwards the stable segment, and passes the previous inner length
// found in place so the inner machine leaves its stable bytes there.
func TestAppendWrapped(t *testing.T) {
	inner := &logMachine{log: []byte("abcdef")}
	buf := make([]byte, 0, 256)
	var ends [statemachine.SegmentsMax]int
	b, e := statemachine.AppendWrapped(inner, buf, ends[:0], 0, 0)
	if want := []int{12, 18}; len(e) != 2 || e[0] != want[0] || e[1] != want[1] {
		t.Fatalf("ends %v, want %v", e, want)
	}
	if binary.LittleEndian.Uint64(b) != 10 || !bytes.Equal(b[12:18], inner.log) || inner.kept != 0 {
		t.Fatalf("first snapshot %q kept %d", b, inner.kept)
	}
	b = append(b, "tail"...) // the wrapper's own bytes
	inner.log = append(inner.log, "gh"...)
	b2, _ := statemachine.AppendWrapped(inner, buf[:0], ends[:0], len(b), 0)
	if inner.kept != 6 || !bytes.Equal(b2[12:20], []byte("abcdefgh")) {
		t.Fatalf("over the previous snapshot: kept %d, %q", inner.kept, b2)
	}
	if seg, n := statemachine.WrappedStable(inner); seg != 1 || n != 8 {
		t.Fatalf("stable %d, %d", seg, n)
	}
	if r := statemachine.AppendWrappedRange(inner, nil, 2, 5); string(r) != "cde" {
		t.Fatalf("range %q", r)
	}
	// Without the promise nothing is kept.
	statemachine.AppendWrapped(inner, buf[:0], ends[:0], 0, 0)
	if inner.kept != 0 {
		t.Fatalf("kept %d without prev", inner.kept)
	}
}
