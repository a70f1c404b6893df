package persist

import (
	"fmt"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/statemachine"
)

// StableStore is the statemachine.StableStore of a replica's journal: the
// stable prefix of the durable checkpoint, read back through the
// journal's block cache (journal.Journal.SetStableCache).
type StableStore struct {
	j *journal.Journal
	// w drains the journal's asynchronous writes before a repair's
	// write (nil: none in flight).
	w *Adapter
	// segment is the stable segment of the machine, as it names it
	// (StableSnapshot.SnapshotStable); the journal's held prefix counts
	// only when it is of that segment.
	segment int
}

// NewStableStore returns the store of j for a machine whose stable prefix
// is in snapshot segment segment; w, when not nil, is the Adapter that
// writes j's prepares (drained before a repair writes).
func NewStableStore(j *journal.Journal, w *Adapter, segment int) *StableStore {
	return &StableStore{j: j, w: w, segment: segment}
}

var _ statemachine.StableStore = (*StableStore)(nil)

// StableHeld implements statemachine.StableStore.
func (s *StableStore) StableHeld() int {
	seg, n := s.j.StableHeld()
	if seg != s.segment {
		return 0
	}
	return n
}

// StableUnit implements statemachine.StableStore.
func (s *StableStore) StableUnit() int { return s.j.StableUnit() }

// ReadStable implements statemachine.StableStore: a failure is a
// *statemachine.StableReadError naming the unit that failed.
func (s *StableStore) ReadStable(dst []byte, from, to int) ([]byte, error) {
	unit := s.j.StableUnit()
	for from < to {
		end := min(to, (from/unit+1)*unit)
		var err error
		if dst, err = s.j.ReadStable(dst, from, end); err != nil {
			u := from / unit * unit
			return dst, &statemachine.StableReadError{From: u, To: u + unit, Err: err}
		}
		from = end
	}
	return dst, nil
}

// VerifyStable implements statemachine.StableStore.
func (s *StableStore) VerifyStable(from int) error {
	unit := s.j.StableUnit()
	if err := s.j.VerifyStable(from / unit); err != nil {
		u := from / unit * unit
		return &statemachine.StableReadError{From: u, To: u + unit, Err: err}
	}
	return nil
}

// RepairStable implements statemachine.StableStore.
func (s *StableStore) RepairStable(from int, b []byte) error {
	unit := s.j.StableUnit()
	if from%unit != 0 {
		return fmt.Errorf("%w: repair at %d, not a unit's start", journal.ErrCorrupt, from)
	}
	if s.w != nil {
		if err := s.w.drain(); err != nil {
			return err
		}
	}
	return s.j.RepairStable(from/unit, b)
}

// Release implements statemachine.StableStore.
func (s *StableStore) Release(b []byte) { journal.ReleaseMemory(b) }
