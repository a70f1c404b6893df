package replica

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// logMachine is the counter machine whose snapshot is an 8-byte head, an
// append-only log (the stable segment) and the counter's own bytes.
type logMachine struct {
	*counterMachine
	log []byte
}

func (m *logMachine) SnapshotSizeMax() int { return 1 << 16 }
func (m *logMachine) Snapshot(dst []byte) []byte {
	dst, _ = m.SnapshotSegments(dst, nil)
	return dst
}
func (m *logMachine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	at := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(m.log)))
	dst = append(dst, m.log...)
	ends = append(ends, 8, len(dst)-at)
	return m.counterMachine.Snapshot(dst), ends
}
func (m *logMachine) SnapshotOver(dst []byte, ends []int, _, _ int) ([]byte, []int) {
	return m.SnapshotSegments(dst, ends)
}
func (m *logMachine) SnapshotStable() (int, int) { return 1, len(m.log) }
func (m *logMachine) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return append(dst, m.log[from:to]...)
}

var _ statemachine.StableSnapshot = (*logMachine)(nil)

// TestSealAheadEqualsSeal: chunks of the stable log checksummed between
// checkpoints (sealAheadStep, a few a tick) give the next checkpoint's
// manifest exactly the entries a full seal computes, and the checkpoint
// takes every chunk the log grew by whole from them.
func TestSealAheadEqualsSeal(t *testing.T) {
	const chunk = 256
	cfg := testConfig(1, 0, func(c *Config) { c.SyncChunkSize = chunk })
	m := &logMachine{counterMachine: newCounterMachine()}
	r, err := New(cfg, testPool(t, cfg), &recordBus{}, &fakeJournal{stored: map[uint64][]byte{}}, fixedClock(1_700_000_000_000_000_000), m)
	if err != nil {
		t.Fatal(err)
	}
	grow := func(n int) {
		for range n {
			m.log = append(m.log, byte(len(m.log)*7+3))
		}
	}
	// take seals a checkpoint of the current state in r.cp as checkpoint
	// does (keeping the last one's stable chunks, taking the ones sealed
	// ahead) and checks the manifest against a full seal.
	take := func(wantAhead uint64) {
		t.Helper()
		prevLo, prevHi, prevSnap := r.cp.stableLo, r.cp.stableHi, r.cp.snapLen
		b := append(r.cp.blob[:0], make([]byte, 16)...)
		b, _ = m.SnapshotSegments(b, nil)
		binary.LittleEndian.PutUint64(b, uint64(len(b)-16))
		r.cp.blob, r.cp.snapLen = b, len(b)-16
		r.cp.stableLo, r.cp.stableHi = 16+8, 16+8+uint64(len(m.log))
		var keepLo, keepHi uint64
		if prevSnap > 0 && prevLo == r.cp.stableLo {
			keepLo, keepHi = prevLo, prevHi
		}
		before := r.cp.sealedAhead
		if err := r.cp.sealKeeping(chunk, keepLo, keepHi, nil, &r.ahead); err != nil {
			t.Fatal(err)
		}
		fresh := checkpointCopy{blob: b, manifest: make([]byte, 0, cap(r.cp.manifest)), scratch: make([]byte, 0, chunk)}
		if err := fresh.seal(chunk, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.cp.manifest, fresh.manifest) || r.cp.id != fresh.id {
			t.Fatal("manifest with entries kept and sealed ahead differs from a full seal")
		}
		if got := r.cp.sealedAhead - before; got != wantAhead {
			t.Fatalf("%d entries taken from the ones sealed ahead, want %d", got, wantAhead)
		}
	}
	grow(1000)
	take(0) // the first: nothing sealed ahead
	// The log grows by 10 chunks; 4 ticks seal 8 of them ahead.
	grow(10 * chunk)
	for range 4 {
		r.sealAheadStep()
	}
	// The chunk holding the last end (1000+24 bytes in) is the first
	// sealed ahead: it is whole now.
	take(8)
	// Ticks enough for all: every chunk the log covers whole.
	grow(5*chunk + 100)
	for range 10 {
		r.sealAheadStep()
	}
	end := 16 + 8 + uint64(len(m.log))
	first := uint64(16+8+1000+10*chunk) / chunk
	take(end/chunk - first)
	// A state whose stable prefix starts elsewhere takes none.
	grow(3 * chunk)
	for range 10 {
		r.sealAheadStep()
	}
	r.ahead.at++
	take(0)
}
