package journal

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// freeSet is a bitset over grid addresses 1..count: a set bit means the
// block is acquired. It is encoded as count/8 bytes (rounded up), bit i of
// the encoding standing for address i+1.
type freeSet struct {
	words []uint64
	count uint64
}

func newFreeSet(count uint32) freeSet {
	return freeSet{words: make([]uint64, (count+63)/64), count: uint64(count)}
}

func (f *freeSet) reset() { clear(f.words) }

func (f *freeSet) copyFrom(o *freeSet) { copy(f.words, o.words) }

func (f *freeSet) isAcquired(address uint64) bool {
	i := address - 1
	return f.words[i/64]&(1<<(i%64)) != 0
}

func (f *freeSet) acquire(address uint64) {
	if address == 0 || address > f.count || f.isAcquired(address) {
		panic(fmt.Sprintf("journal: acquire of grid address %d (count %d) twice or out of range", address, f.count))
	}
	i := address - 1
	f.words[i/64] |= 1 << (i % 64)
}

// acquired returns the number of acquired blocks.
func (f *freeSet) acquired() int {
	n := 0
	for _, w := range f.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// encodedSize returns the length of the encoding.
func (f *freeSet) encodedSize() int { return int((f.count + 7) / 8) }

func (f *freeSet) encode(b []byte) []byte {
	n := f.encodedSize()
	var w [8]byte
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(w[:], f.words[i/8])
		b = append(b, w[:min(8, n-i)]...)
	}
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
	if tail := f.count % 64; tail != 0 && f.words[len(f.words)-1]>>tail != 0 {
		return fmt.Errorf("%w: free set marks blocks past the grid", ErrCorrupt)
	}
	return nil
}
