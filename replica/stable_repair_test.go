package replica

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// stableMachine is the counter machine with a stable prefix of its own,
// as a GridBacked machine that keeps it in memory: ReadSnapshotRange
// panics on a range outside it, as the ledger does.
type stableMachine struct {
	*counterMachine
	stable  []byte
	repairs int
}

func (m *stableMachine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return m.Snapshot(dst), append(ends, 0)
}
func (m *stableMachine) SnapshotOver(dst []byte, ends []int, _ int) ([]byte, []int) {
	return m.SnapshotSegments(dst, ends)
}
func (m *stableMachine) SnapshotStable() (int, int) { return 1, len(m.stable) }
func (m *stableMachine) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return append(dst, m.stable[from:to]...)
}
func (m *stableMachine) SetStableStore(statemachine.StableStore) {}
func (m *stableMachine) StableOmitted() int                      { return 0 }
func (m *stableMachine) ReadSnapshotRange(dst []byte, from, to int) ([]byte, error) {
	if from < 0 || to < from || to > len(m.stable) {
		panic(fmt.Sprintf("stable range [%d, %d) of %d bytes", from, to, len(m.stable)))
	}
	return append(dst, m.stable[from:to]...), nil
}
func (m *stableMachine) PrefetchReset()                          {}
func (m *stableMachine) Prefetch(wire.Operation, []byte) error   { return nil }
func (m *stableMachine) PrefetchCost(wire.Operation, []byte) int { return 0 }
func (m *stableMachine) PrefetchCapacity() int                   { return 0 }
func (m *stableMachine) ScrubStable(int) (int, error)            { return 0, nil }
func (m *stableMachine) RepairStable(from int, b []byte) error {
	if from < 0 || from > len(m.stable) || len(b) > len(m.stable)-from {
		return errors.New("stableMachine: repair outside the stable prefix")
	}
	m.repairs++
	return nil
}
func (m *stableMachine) RestoreOmitting(b []byte, _ int, _ func([]byte)) error { return m.Restore(b) }

var _ statemachine.GridBacked = (*stableMachine)(nil)

// FuzzStableMessages: request_stable and stable headers from a peer, with
// any offset and length, never panic the replica (an offset near 2^64 once
// wrapped past the bound check) and are answered only for bytes inside its
// stable prefix.
func FuzzStableMessages(f *testing.F) {
	f.Add(uint64(0), uint64(100), uint8(1))
	f.Add(uint64(math.MaxUint64-50), uint64(100), uint8(1))
	f.Add(uint64(1<<63), uint64(1<<63), uint8(2))
	f.Add(uint64(900), uint64(200), uint8(2))
	f.Fuzz(func(t *testing.T, offset, n uint64, from uint8) {
		bus := &keepBus{from: 0}
		cfg := Config{Cluster: wire.Uint128{Lo: 77}, ReplicaCount: 3, Replica: 0, Limits: wire.LimitsTest, Seed: 1}
		cfg.Limits.ReplicaCount, cfg.Limits.ClientsMax = 3, 4
		cfg.DefaultTimeouts()
		pool, err := wire.NewPool(cfg.Limits.MessagesMax(), cfg.Limits.MessageSizeMax)
		if err != nil {
			t.Fatal(err)
		}
		cm := newCounterMachine()
		cm.snapshotMax = 4096
		sm := &stableMachine{counterMachine: cm, stable: make([]byte, 1000)}
		r, err := New(cfg, pool, bus, &fakeJournal{stored: map[uint64][]byte{}}, fixedClock(1_700_000_000_000_000_000), sm)
		if err != nil {
			t.Fatal(err)
		}
		peer := 1 + from%2
		h := r.header(wire.CommandRequestStable)
		h.Replica, h.OpMin, h.Commit = peer, offset, n
		r.onRequestStable(&h)
		inside := offset <= 1000 && n <= 1000-offset && n <= uint64(r.stableBodyMax())
		if served := r.Counters.StableServed == 1; served != inside {
			t.Fatalf("request of [%d, +%d): served %v", offset, n, served)
		}
		body := make([]byte, min(n, 2048))
		s := r.header(wire.CommandStable)
		s.Replica, s.OpMin, s.Commit = peer, offset, uint64(len(body))
		r.onStable(&s, body)
		if took := sm.repairs == 1; took && (offset > 1000 || uint64(len(body)) > 1000-offset) {
			t.Fatalf("repair outside the prefix taken: [%d, +%d)", offset, len(body))
		}
	})
}
