package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/chronon-db/chronon/internal/invariants"
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
	// readHook, when not nil, is called by each ReadSnapshotRange.
	readHook func()
}

func (m *stableMachine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return m.Snapshot(dst), append(ends, 0)
}
func (m *stableMachine) SnapshotOver(dst []byte, ends []int, _, _ int) ([]byte, []int) {
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
	if m.readHook != nil {
		m.readHook()
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
		cfg := testConfig(3, 0, nil)
		pool := testPool(t, cfg)
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

// unreadableMachine is a stableMachine whose omitted stable bytes do not
// read back: RestoreOmitting fails as the ledger's does over a damaged
// block.
type unreadableMachine struct{ *stableMachine }

func (m unreadableMachine) RestoreOmitting(_ []byte, omitted int, _ func([]byte)) error {
	return &statemachine.StableReadError{From: 0, To: omitted, Err: errors.New("a block fails its checksum")}
}

// remainsJournal is a RecoveryJournal whose checkpoint reads back as
// remains (CheckpointRemains).
type remainsJournal struct {
	memRecovery
	remains CheckpointBlobs
	sizes   CheckpointSizes
	asked   int
}

func (j *remainsJournal) CheckpointRemains() (CheckpointBlobs, CheckpointSizes) {
	j.asked++
	return j.remains, j.sizes
}

// TestRecoverStableReadFailureKeepsTheRemains: a checkpoint whose omitted
// stable bytes do not read back when the machine restores it is damaged:
// the replica starts without it, does not vote whole, and keeps what the
// journal reads of it (CheckpointRemains, read once) as the basis of the
// state sync that replaces it, as when the journal finds a damaged block
// before the restore.
func TestRecoverStableReadFailureKeepsTheRemains(t *testing.T) {
	old := counterBlob(20_000)
	cfg := testConfig(3, 1, nil)
	pool := testPool(t, cfg)
	cm := newCounterMachine()
	cm.snapshotMax = 2 * len(old.State)
	sm := unreadableMachine{&stableMachine{counterMachine: cm}}
	r, err := New(cfg, pool, &keepBus{from: 1}, &fakeJournal{stored: map[uint64][]byte{}}, fixedClock(1_700_000_000_000_000_000), sm)
	if err != nil {
		t.Fatal(err)
	}
	read := len(old.State) * 3 / 5
	j := &remainsJournal{remains: CheckpointBlobs{State: old.State[:read]}, sizes: CheckpointSizes{State: uint64(len(old.State))}}
	state := append([]byte(nil), old.State...)
	rec := Recovered{CheckpointOp: 20, CheckpointChecksum: wire.Uint128{Lo: 5}, Started: true, CommitMax: 20, LogOp: 20,
		Checkpoint: CheckpointBlobs{State: state, StableOmitted: 4096, StableOffset: 0}, Journal: j}
	out, err := r.Recover(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(rec.CheckpointDamaged, statemachine.ErrStableRead) || out.Damage != DamageCheckpoint || out.Vote == VoteWhole {
		t.Fatalf("damaged %v, damage %v, vote %v; want the checkpoint damaged, no whole vote", rec.CheckpointDamaged, out.Damage, out.Vote)
	}
	if !r.needsCheckpoint() || r.commitMin != 0 || r.cp.op != 0 || len(r.cp.blob) != 0 {
		t.Fatalf("commit_min %d, checkpoint %d of %d bytes: not started without the checkpoint", r.commitMin, r.cp.op, len(r.cp.blob))
	}
	if j.asked != 1 || r.syncBasis() != &r.damaged || !bytes.Equal(r.damaged.blob[16:16+read], old.State[:read]) {
		t.Fatalf("remains asked %d times; the sync basis is not the remains", j.asked)
	}
	chunk := r.syncChunkSize()
	if known := (16 + uint64(read)) / chunk; known == 0 || manifestEntry(r.damaged.manifest, known-1).IsZero() || !manifestEntry(r.damaged.manifest, known).IsZero() {
		t.Fatalf("the remains' manifest does not name the %d chunks read whole, and only those", known)
	}
}

// visitingMachine is a stableMachine that restores omitting its stable
// bytes as a GridBacked machine does: it passes them to the visitor in
// pieces of a store unit, in order.
type visitingMachine struct {
	*stableMachine
	omitted int
}

func (m *visitingMachine) StableOmitted() int { return m.omitted }
func (m *visitingMachine) RestoreOmitting(b []byte, omitted int, visit func([]byte)) error {
	if err := m.Restore(b); err != nil {
		return err
	}
	const unit = 7936
	for from := 0; from < omitted; from += unit {
		visit(m.stable[from:min(from+unit, omitted)])
	}
	m.omitted = omitted
	return nil
}

// TestRestoreChecksumsTheHoleInTheRestorePass: the manifest of a
// checkpoint restored omitting stable bytes (a hole starting and ending
// inside chunks, over several) is the one of the whole blob, sealed,
// computed from the bytes the machine's restore passed on: the hole is
// not read again through the machine.
func TestRestoreChecksumsTheHoleInTheRestorePass(t *testing.T) {
	full := counterBlob(20_000)
	o := newSyncOne(t, 1, &keepBus{from: 1}, 2*len(full.State))
	chunk := o.r.syncChunkSize()
	off, omitted := 1000, int(3*chunk)+500
	if 16+off+omitted+int(chunk) > len(full.State) {
		t.Fatalf("setup: a state of %d bytes for a hole of %d", len(full.State), omitted)
	}
	cm := newCounterMachine()
	cm.snapshotMax = 2 * len(full.State)
	sm := &visitingMachine{stableMachine: &stableMachine{counterMachine: cm, stable: full.State[off : off+omitted]}}
	r, err := New(o.cfg, o.pool, &keepBus{from: 1}, o.j, fixedClock(1_700_000_000_000_000_000), sm)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	sm.readHook = func() { reads++ }
	if err := r.restore(20, wire.Uint128{Lo: 5}, CheckpointBlobs{State: full.State, StableOmitted: omitted, StableOffset: off}); err != nil {
		t.Fatal(err)
	}
	blob := joinCheckpointBlob(nil, full)
	var want []byte
	for lo := 0; lo < len(blob); lo += int(chunk) {
		sum := wire.Checksum(blob[lo:min(lo+int(chunk), len(blob))])
		want = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(want, sum.Lo), sum.Hi)
	}
	if r.cp.unsealed || !bytes.Equal(r.cp.manifest, want) || r.cp.id != wire.Checksum(want) {
		t.Fatalf("manifest of %d bytes (unsealed %v) differs from the whole blob's", len(r.cp.manifest), r.cp.unsealed)
	}
	if reads != 0 && !invariants.Enabled {
		t.Fatalf("the hole was read %d times through the machine after the restore", reads)
	}
}
