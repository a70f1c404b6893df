package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// populated returns a table with pending, retrying and finished effects.
func populated(t testing.TB) *Table {
	tb := newTestTable(t, Config{EffectsMax: 8})
	ids := emit(t, tb, 1, 100, "a", "b", "c")
	emit(t, tb, 2, 200, "d")
	applyAcks(t, tb, 300,
		Ack{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone},
		Ack{ID: ids[1], View: 1, Attempt: 1, Outcome: OutcomeRetry, Result: []byte("busy")},
		Ack{ID: ids[2], View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonRejected})
	return tb
}

func TestDigestIndependentOfHistory(t *testing.T) {
	a := populated(t)
	// Same final contents reached in another order, in other slots.
	b := newTestTable(t, Config{EffectsMax: 8})
	emit(t, b, 2, 200, "d") // op 2 first: different slots
	emit(t, b, 1, 100, "a", "b", "c")
	ids := []wire.Uint128{EffectID(testCluster, 1, 0), EffectID(testCluster, 1, 1), EffectID(testCluster, 1, 2)}
	applyAcks(t, b, 300, Ack{ID: ids[2], View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonRejected})
	applyAcks(t, b, 300, Ack{ID: ids[1], View: 1, Attempt: 1, Outcome: OutcomeRetry, Result: []byte("busy")},
		Ack{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone})
	if a.Digest() != b.Digest() {
		t.Fatal("equal tables, different digests")
	}
	if !bytes.Equal(a.Snapshot(nil), b.Snapshot(nil)) {
		t.Fatal("equal tables, different snapshots")
	}
	// Any change shows.
	before := b.Digest()
	applyAcks(t, b, 301, Ack{ID: ids[1], View: 2, Attempt: 2, Outcome: OutcomeRetry})
	if b.Digest() == before {
		t.Fatal("retry did not change the digest")
	}
	c := newTestTable(t, Config{EffectsMax: 8})
	emit(t, c, 1, 100, "a")
	d := newTestTable(t, Config{EffectsMax: 8})
	emit(t, d, 1, 101, "a")
	if c.Digest() == d.Digest() {
		t.Fatal("different timestamps, same digest")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	a := populated(t)
	snap := a.Snapshot(nil)
	b := newTestTable(t, Config{EffectsMax: 8})
	emit(t, b, 9, 9, "garbage")
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() || a.Stats() != b.Stats() || !bytes.Equal(b.Snapshot(nil), snap) {
		t.Fatal("restore differs")
	}
	e, ok := b.Get(EffectID(testCluster, 1, 1))
	if !ok || e.State != StateRetry || string(e.Result) != "busy" || string(e.Payload) != "payload:b" {
		t.Fatalf("restored effect %+v", e)
	}
	// The restored table keeps working.
	applyAcks(t, b, 400, Ack{ID: e.ID, View: 1, Attempt: 2, Outcome: OutcomeDone})
	if b.Len() != 1 {
		t.Fatal(b.Len())
	}
	if err := b.Restore(nil); err != nil || b.Len() != 0 || b.Stats() != (Stats{}) {
		t.Fatal("empty restore", err)
	}
}

// reseal recomputes a snapshot's checksum after a test edits it.
func reseal(b []byte) []byte {
	sum := wire.Checksum(b[:len(b)-16])
	binary.LittleEndian.PutUint64(b[len(b)-16:], sum.Lo)
	binary.LittleEndian.PutUint64(b[len(b)-8:], sum.Hi)
	return b
}

func TestRestoreRejectsCorruption(t *testing.T) {
	snap := populated(t).Snapshot(nil)
	rec := snapshotHeaderSize // first record
	cases := map[string][]byte{
		"short":     snap[:20],
		"bitflip":   func() []byte { b := bytes.Clone(snap); b[50] ^= 1; return b }(),
		"truncated": reseal(bytes.Clone(snap[:len(snap)-1])),
		"magic":     func() []byte { b := bytes.Clone(snap); b[0] = 'x'; return reseal(b) }(),
		"version":   func() []byte { b := bytes.Clone(snap); b[8] = 1; return reseal(b) }(),
		"count":     func() []byte { b := bytes.Clone(snap); b[12]++; return reseal(b) }(),
		"counters":  func() []byte { b := bytes.Clone(snap); b[24]++; return reseal(b) }(),
		"id":        func() []byte { b := bytes.Clone(snap); b[rec]++; return reseal(b) }(),
		"state":     func() []byte { b := bytes.Clone(snap); b[rec+30] = 2; return reseal(b) }(),
		"reserved":  func() []byte { b := bytes.Clone(snap); b[rec+31] = 1; return reseal(b) }(),
		"target":    func() []byte { b := bytes.Clone(snap); b[rec+34] = 0; b[rec+35] = 0; return reseal(b) }(),
		"kept":      func() []byte { b := bytes.Clone(snap); b[40] = 200; return reseal(b) }(),
		"reserved2": func() []byte { b := bytes.Clone(snap); b[44] = 1; return reseal(b) }(),
		"trailing":  reseal(append(bytes.Clone(snap[:len(snap)-16]), make([]byte, 17)...)),
	}
	for name, b := range cases {
		tb := newTestTable(t, Config{EffectsMax: 8})
		err := tb.Restore(b)
		if !errors.Is(err, ErrSnapshot) || !errors.Is(err, statemachine.ErrInvalidInput) {
			t.Errorf("%s: Restore = %v", name, err)
		}
		if tb.Len() != 0 || tb.Stats() != (Stats{}) {
			t.Errorf("%s: table not empty after failed restore", name)
		}
	}
	// Capacity and cluster are checked too.
	small := newTestTable(t, Config{EffectsMax: 1})
	if err := small.Restore(snap); !errors.Is(err, ErrSnapshot) {
		t.Errorf("over capacity: %v", err)
	}
	other := newTestTable(t, Config{EffectsMax: 8, Cluster: wire.Uint128{Lo: 77}})
	if err := other.Restore(snap); !errors.Is(err, ErrSnapshot) {
		t.Errorf("other cluster: %v", err)
	}
}
