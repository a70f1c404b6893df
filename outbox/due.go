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
// allocate when dst has room; it is O(n log n) in the number of due effects.
func (t *Table) Due(dst []Effect, now uint64, limit int, skip func(wire.Uint128) bool) []Effect {
	if limit <= 0 {
		return dst
	}
	t.order = t.order[:0]
	for i := range t.slots {
		s := &t.slots[i]
		if s.used && s.next <= now && (skip == nil || !skip(s.id)) {
			t.order = append(t.order, uint32(i))
		}
	}
	slices.SortFunc(t.order, func(a, b uint32) int {
		x, y := &t.slots[a], &t.slots[b]
		switch {
		case x.next != y.next:
			return cmp(x.next, y.next)
		case x.op != y.op:
			return cmp(x.op, y.op)
		}
		return cmp(uint64(x.index), uint64(y.index))
	})
	for _, i := range t.order[:min(limit, len(t.order))] {
		dst = append(dst, t.effect(i))
	}
	return dst
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
