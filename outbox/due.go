package outbox

import (
	"slices"

	"github.com/chronon-db/chronon/wire"
)

// Due appends to dst up to limit effects with NextAttempt ≤ now for which
// skip (if not nil) returns false, ordered by (NextAttempt, Op, Index), and
// returns dst. The effects' slices alias the table's memory (see Effect).
//
// now is in the commit-timestamp domain (ns); Due only reads the table, so
// the node may pass its own clock: the dispatcher's view of time does not
// affect replicated state. skip is typically Dispatcher.Busy. Due does not
// allocate when dst has room; it is O(n log limit) in the table's effects.
func (t *Table) Due(dst []Effect, now uint64, limit int, skip func(wire.Uint128) bool) []Effect {
	if limit <= 0 {
		return dst
	}
	// Keep the limit first candidates in a max-heap (its root the last of
	// them): a candidate after the root is rejected with one comparison,
	// so the scan is O(n log limit) at worst and O(n) when few qualify.
	t.order = t.order[:0]
	for i := range t.slots {
		s := &t.slots[i]
		if !s.used || s.next > now {
			continue
		}
		// skip (a map lookup in the dispatcher) only for a slot that
		// would enter the heap.
		full := len(t.order) == limit
		if (full && !t.dueBefore(uint32(i), t.order[0])) || (skip != nil && skip(s.id)) {
			continue
		}
		switch {
		case !full:
			t.order = append(t.order, uint32(i))
			if len(t.order) == limit {
				for j := limit/2 - 1; j >= 0; j-- {
					t.siftDown(j)
				}
			}
		default:
			t.order[0] = uint32(i)
			t.siftDown(0)
		}
	}
	slices.SortFunc(t.order, func(a, b uint32) int {
		switch {
		case t.dueBefore(a, b):
			return -1
		case t.dueBefore(b, a):
			return 1
		}
		return 0
	})
	for _, i := range t.order[:min(limit, len(t.order))] {
		dst = append(dst, t.effect(i))
	}
	return dst
}

// dueBefore orders slots by (NextAttempt, Op, Index).
func (t *Table) dueBefore(a, b uint32) bool {
	x, y := &t.slots[a], &t.slots[b]
	switch {
	case x.next != y.next:
		return x.next < y.next
	case x.op != y.op:
		return x.op < y.op
	}
	return x.index < y.index
}

// siftDown restores the max-heap (by dueBefore) of t.order below j.
func (t *Table) siftDown(j int) {
	n := len(t.order)
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if c+1 < n && t.dueBefore(t.order[c], t.order[c+1]) {
			c++
		}
		if !t.dueBefore(t.order[j], t.order[c]) {
			return
		}
		t.order[j], t.order[c] = t.order[c], t.order[j]
		j = c
	}
}

// NextDue returns the smallest NextAttempt in the table, or false if it is
// empty, so the node can sleep until then.
func (t *Table) NextDue() (uint64, bool) {
	var next uint64
	found := false
	for i := range t.slots {
		s := &t.slots[i]
		if s.used && (!found || s.next < next) {
			next, found = s.next, true
		}
	}
	return next, found
}

func cmp(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}
