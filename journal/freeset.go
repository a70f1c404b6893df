package journal

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/chronon-db/chronon/internal/invariants"
)

// freeSet is a bitset over grid addresses 1..count: a set bit means the
// block is acquired. It is encoded as count/8 bytes (rounded up), bit i of
// the encoding standing for address i+1.
type freeSet struct {
	words []uint64
	count uint64
	n     int // acquired blocks: the set bits of words
}

func newFreeSet(count uint32) freeSet {
	invariants.Assert(count > 0, "journal: free set of an empty grid")
	f := freeSet{words: make([]uint64, (count+63)/64), count: uint64(count)}
	invariants.Assert(uint64(len(f.words))*64 >= f.count && uint64(len(f.words))*64 < f.count+64, "journal: free set words do not fit the grid")
	return f
}

func (f *freeSet) reset() {
	invariants.Assert(uint64(len(f.words)) == (f.count+63)/64, "journal: free set words do not fit the grid")
	clear(f.words)
	f.n = 0
	if invariants.Enabled {
		invariants.Assert(f.popcount() == 0, "journal: reset free set holds blocks")
	}
}

func (f *freeSet) copyFrom(o *freeSet) {
	invariants.Assert(o.count == f.count && len(o.words) == len(f.words), "journal: free set copied across grid sizes")
	copy(f.words, o.words)
	f.n = o.n
	if invariants.Enabled {
		invariants.Assert(slices.Equal(f.words, o.words), "journal: free set copy differs")
	}
}

func (f *freeSet) isAcquired(address uint64) bool {
	if address == 0 || address > f.count {
		invariants.Failf("journal: free set lookup of grid address %d (count %d)", address, f.count)
	}
	i := address - 1
	return f.words[i/64]&(1<<(i%64)) != 0
}

func (f *freeSet) acquire(address uint64) {
	if address == 0 || address > f.count || f.isAcquired(address) {
		invariants.Failf("journal: acquire of grid address %d (count %d) twice or out of range", address, f.count)
	}
	i := address - 1
	f.words[i/64] |= 1 << (i % 64)
	f.n++
	invariants.Assert(f.isAcquired(address), "journal: acquired block reads as free")
}

func (f *freeSet) release(address uint64) {
	if address == 0 || address > f.count || !f.isAcquired(address) {
		invariants.Failf("journal: release of grid address %d (count %d) not acquired or out of range", address, f.count)
	}
	i := address - 1
	f.words[i/64] &^= 1 << (i % 64)
	f.n--
	invariants.Assert(!f.isAcquired(address), "journal: released block reads as acquired")
}

// acquired returns the number of acquired blocks (kept as blocks are
// acquired and released: the prewriter asks on every turn of the loop).
func (f *freeSet) acquired() int {
	invariants.Assert(f.n >= 0 && uint64(f.n) <= f.count, "journal: free set holds more blocks than the grid")
	if invariants.Enabled {
		invariants.Assert(f.n == f.popcount(), "journal: free set count differs from its bits")
	}
	return f.n
}

// popcount counts the set bits.
func (f *freeSet) popcount() int {
	n := 0
	for _, w := range f.words {
		n += bits.OnesCount64(w)
	}
	invariants.Assert(uint64(n) <= f.count, "journal: free set holds more blocks than the grid")
	return n
}

// disjoint reports whether no block is acquired in both f and o.
func (f *freeSet) disjoint(o *freeSet) bool {
	invariants.Assert(len(o.words) == len(f.words), "journal: free sets of different grids compared")
	invariants.Assert(o.count == f.count, "journal: free sets of different grid sizes compared")
	for i, w := range f.words {
		if w&o.words[i] != 0 {
			return false
		}
	}
	return true
}

// encodedSize returns the length of the encoding.
func (f *freeSet) encodedSize() int {
	n := int((f.count + 7) / 8)
	invariants.Assert(n > 0 && n <= len(f.words)*8, "journal: free set encoding larger than its words")
	invariants.Assert(uint64(n)*8 >= f.count, "journal: free set encoding smaller than the grid")
	return n
}

func (f *freeSet) encode(b []byte) []byte {
	if tail := f.count % 64; tail != 0 {
		invariants.Assert(f.words[len(f.words)-1]>>tail == 0, "journal: free set marks blocks past the grid")
	}
	start := len(b)
	n := f.encodedSize()
	var w [8]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(w[:], f.words[i/8])
		b = append(b, w[:min(8, n-i)]...)
	}
	invariants.Assert(len(b)-start == n, "journal: free set encoding has the wrong length")
	return b
}

// decode loads the encoding b; bad lengths or bits past count are corrupt.
func (f *freeSet) decode(b []byte) error {
	if len(b) != f.encodedSize() {
		return fmt.Errorf("%w: free set is %d bytes, want %d", ErrCorrupt, len(b), f.encodedSize())
	}
	f.reset()
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		clear(w[:])
		copy(w[:], b[i:])
		f.words[i/8] = binary.LittleEndian.Uint64(w[:])
	}
	f.n = f.popcount()
	if tail := f.count % 64; tail != 0 && f.words[len(f.words)-1]>>tail != 0 {
		return fmt.Errorf("%w: free set marks blocks past the grid", ErrCorrupt)
	}
	invariants.Assert(uint64(f.acquired()) <= f.count, "journal: decoded free set larger than the grid")
	if invariants.Enabled {
		// The decoding is the encoding's inverse (every bit of b is used).
		invariants.Assert(string(f.encode(nil)) == string(b), "journal: free set does not re-encode to its bytes")
	}
	return nil
}
