package kv

// table is an open-addressing hash index with linear probing from key slot
// to slot number + 1 (0 = empty). It has at least twice as many entries as
// the store has slots, so probes stay short and an empty entry always ends
// a probe. Deletion shifts later entries back (no tombstones), so the table
// never degrades or needs rebuilding.
type table struct {
	entries []uint32
}

func newTable(keysMax int) table {
	n := 2
	for n < 2*keysMax {
		n *= 2
	}
	return table{entries: make([]uint32, n)}
}

func (t *table) reset() { clear(t.entries) }

// remove empties position pos and shifts back the entries of its probe
// run that would otherwise become unreachable.
func (t *table) remove(pos uint32, slots []slot) {
	mask := uint32(len(t.entries) - 1)
	i := pos
	for j := (i + 1) & mask; t.entries[j] != 0; j = (j + 1) & mask {
		home := uint32(slots[t.entries[j]-1].home) & mask
		// The entry at j may move to i unless its home lies cyclically in
		// (i, j].
		if i <= j {
			if i < home && home <= j {
				continue
			}
		} else if i < home || home <= j {
			continue
		}
		t.entries[i] = t.entries[j]
		i = j
	}
	t.entries[i] = 0
}
