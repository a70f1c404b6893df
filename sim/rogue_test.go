package sim

import (
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestRogueFramesAreRejected: every kind of hostile frame the rogue makes,
// from frames captured on a real run, fails the receive path's validation
// with the error its kind calls for.
func TestRogueFramesAreRejected(t *testing.T) {
	s, err := New(Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		s.Step()
	}
	g := s.rogue
	if g == nil || len(g.captured) == 0 {
		t.Fatal("seed 1 has no rogue, or it captured nothing")
	}
	want := map[rogueKind]error{
		rogueChecksum: wire.ErrChecksum, rogueCluster: wire.ErrCluster, rogueOversized: wire.ErrSize,
		rogueReserved: wire.ErrReserved, rogueCommand: wire.ErrCommand,
	}
	seen := map[rogueKind]int{}
	for range 5000 {
		data := g.frame(&s.wcfg)
		var h wire.Header
		err := wire.DecodeHeader(data, &h, &s.wcfg)
		if err == nil && int(h.Size) != len(data) {
			err = errRogueLength
		}
		if err == nil {
			err = wire.VerifyBody(&h, data[wire.HeaderSize:])
		}
		if err == nil {
			t.Fatalf("a rogue frame validates: %+v", h)
		}
		k := g.last
		seen[k]++
		if w := want[k]; w != nil && !errors.Is(err, w) {
			t.Fatalf("rogue kind %d: %v, want %v", k, err, w)
		}
	}
	for k := rogueKind(0); k < rogueKindCount; k++ {
		if seen[k] == 0 {
			t.Errorf("rogue kind %d never made", k)
		}
	}
	// The checker: a frame that validates fails the run.
	s.deliverRogue(packet{to: 0, data: g.captured[0], rogue: true})
	var v *Violation
	if err := s.Err(); !errors.As(err, &v) || v.Invariant != InvariantRogueAccepted {
		t.Fatalf("a valid frame from the rogue was not caught: %v", err)
	}
}

// TestRogueLeavesRunsUnchanged: with the rogue on, a seed's run commits the
// same ops with the same messages as without it, and every rogue frame
// delivered was dropped.
func TestRogueLeavesRunsUnchanged(t *testing.T) {
	tried := 0
	for seed := uint64(1); tried < 3; seed++ {
		if newRogue(Options{Seed: seed}) == nil {
			continue
		}
		tried++
		with := Run(Options{Seed: seed})
		without := Run(Options{Seed: seed, NoRogue: true})
		if with.Failed() || without.Failed() {
			t.Fatalf("seed %d: %s %s", seed, with.Report(), without.Report())
		}
		if with.Stats.Faults[FaultRogueFrame] == 0 || with.Stats.RogueDropped == 0 {
			t.Fatalf("seed %d: no rogue frame sent or dropped", seed)
		}
		a, b := with.Stats, without.Stats
		a.Faults[FaultRogueFrame], a.RogueDropped = 0, 0
		if a != b {
			t.Fatalf("seed %d: the rogue changed the run:\n%+v\n%+v", seed, a, b)
		}
	}
}
