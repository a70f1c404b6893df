package statemachine

import "encoding/binary"

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
func AppendWrapped(inner StateMachine, dst []byte, ends []int, prev int) ([]byte, []int) {
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
		dst, ends = s.SnapshotOver(dst, ends, prevInner)
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
