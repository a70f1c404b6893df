package statemachine

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/wire"
)

// Wrappers: a state machine that wraps another one (the outbox's Machine,
// the simulator's checked machine) and snapshots it as an 8-byte length,
// the inner snapshot, then bytes of its own, keeps the inner machine's
// segments and its stable segment with these helpers.

// AppendWrapped appends the 8-byte length and inner's snapshot to dst,
// cut as inner cuts its own (when it is a SegmentedSnapshot; shifted by
// the length) and ended by one more end after it, so the wrapper's own
// bytes that follow form the last segment. prev is as in
// StableSnapshot.SnapshotOver for the whole wrapped snapshot: the inner
// snapshot's previous length is read from the length still in place.
// skip is as in SnapshotOver (the inner stable prefix's offsets are the
// wrapper's).
func AppendWrapped(inner StateMachine, dst []byte, ends []int, prev, skip int) ([]byte, []int) {
	at, n0 := len(dst), len(ends)
	prevInner := 0
	if prev >= 8 && cap(dst)-at >= prev {
		if n := binary.LittleEndian.Uint64(dst[at : at+8]); n <= uint64(prev-8) {
			prevInner = int(n)
		}
	}
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	switch s := inner.(type) {
	case StableSnapshot:
		dst, ends = s.SnapshotOver(dst, ends, prevInner, skip)
	case SegmentedSnapshot:
		dst, ends = s.SnapshotSegments(dst, ends)
	default:
		dst = inner.Snapshot(dst)
	}
	for i := n0; i < len(ends); i++ {
		ends[i] += 8 // relative to the inner snapshot's start
	}
	// Room for the end of the inner snapshot.
	ends = ends[:min(len(ends), n0+SegmentsMax-1)]
	n := len(dst) - at - 8
	binary.LittleEndian.PutUint64(dst[at:], uint64(n))
	return dst, append(ends, n+8)
}

// WrappedStable returns inner's stable segment as a wrapper using
// AppendWrapped sees it: the same segment when it is not the first (the
// first carries the length) and within the segments kept, else none.
func WrappedStable(inner StateMachine) (segment, size int) {
	if s, ok := inner.(StableSnapshot); ok {
		if seg, n := s.SnapshotStable(); seg >= 1 && seg < SegmentsMax-1 {
			return seg, n
		}
	}
	return 0, 0
}

// AppendWrappedRange is StableSnapshot.AppendSnapshotRange for a wrapper
// using WrappedStable.
func AppendWrappedRange(inner StateMachine, dst []byte, from, to int) []byte {
	if from == to {
		return dst
	}
	return inner.(StableSnapshot).AppendSnapshotRange(dst, from, to)
}

// GridForward implements the GridBacked methods of a wrapper around
// Machine (embed it): they reach Machine when it is GridBacked, and
// otherwise behave as a machine that keeps everything in memory. The
// inner stable prefix's offsets are the wrapper's (AppendWrapped keeps the
// inner segments' bytes). The wrapper adds RestoreOmitting (with
// RestoreInner) and the StableSnapshot methods.
type GridForward struct {
	Machine StateMachine
}

func (f GridForward) grid() (GridBacked, bool) {
	g, ok := f.Machine.(GridBacked)
	return g, ok
}

// SetStableStore implements GridBacked.
func (f GridForward) SetStableStore(s StableStore) {
	if g, ok := f.grid(); ok {
		g.SetStableStore(s)
	}
}

// StableOmitted implements GridBacked.
func (f GridForward) StableOmitted() int {
	if g, ok := f.grid(); ok {
		return g.StableOmitted()
	}
	return 0
}

// ReadSnapshotRange implements GridBacked.
func (f GridForward) ReadSnapshotRange(dst []byte, from, to int) ([]byte, error) {
	if g, ok := f.grid(); ok {
		return g.ReadSnapshotRange(dst, from, to)
	}
	return AppendWrappedRange(f.Machine, dst, from, to), nil
}

// PrefetchCost implements GridBacked.
func (f GridForward) PrefetchCost(operation wire.Operation, input []byte) int {
	if g, ok := f.grid(); ok {
		return g.PrefetchCost(operation, input)
	}
	return 0
}

// PrefetchCapacity implements GridBacked.
func (f GridForward) PrefetchCapacity() int {
	if g, ok := f.grid(); ok {
		return g.PrefetchCapacity()
	}
	return 0
}

// ScrubStable implements GridBacked.
func (f GridForward) ScrubStable(from int) (int, error) {
	if g, ok := f.grid(); ok {
		return g.ScrubStable(from)
	}
	return 0, nil
}

// RepairStable implements GridBacked.
func (f GridForward) RepairStable(from int, b []byte) error {
	if g, ok := f.grid(); ok {
		return g.RepairStable(from, b)
	}
	return ErrStableRead
}

// PrefetchReset implements GridBacked.
func (f GridForward) PrefetchReset() {
	if g, ok := f.grid(); ok {
		g.PrefetchReset()
	}
}

// Prefetch implements GridBacked, for a wrapper whose own operations read
// nothing of the inner machine's dropped state.
func (f GridForward) Prefetch(operation wire.Operation, input []byte) error {
	if g, ok := f.grid(); ok {
		return g.Prefetch(operation, input)
	}
	return nil
}

// RestoreInner restores inner from its snapshot, with omitted stable bytes
// (GridBacked.RestoreOmitting, passing them to visit) when omitted > 0.
func RestoreInner(inner StateMachine, snapshot []byte, omitted int, visit func(b []byte)) error {
	if omitted == 0 {
		return inner.Restore(snapshot)
	}
	g, ok := inner.(GridBacked)
	if !ok {
		panic("statemachine: stable bytes omitted for a machine that is not GridBacked")
	}
	return g.RestoreOmitting(snapshot, omitted, visit)
}
