package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func TestDigest(t *testing.T) {
	a, b := newHarness(t, Config{KeysMax: 8}), newHarness(t, Config{KeysMax: 8})
	empty := a.s.Digest()
	a.put("x", "1", "y", "2")
	b.put("x", "1", "y", "2")
	if a.s.Digest() != b.s.Digest() {
		t.Fatal("same ops, different digests")
	}
	a.put("x", "1") // same value again: state unchanged, digest unchanged
	if a.s.Digest() != b.s.Digest() {
		t.Fatal("idempotent put changed the digest")
	}
	a.put("x", "3")
	if a.s.Digest() == b.s.Digest() {
		t.Fatal("differing op, same digest")
	}
	a.put("x", "1")
	if a.s.Digest() != b.s.Digest() {
		t.Fatal("restored value, different digest")
	}
	// Order independence: the digest depends on contents, not history.
	c := newHarness(t, Config{KeysMax: 8})
	c.put("z", "9", "y", "2")
	c.del("z")
	c.put("x", "1")
	if c.s.Digest() != a.s.Digest() {
		t.Fatal("same contents, different digests")
	}
	// Two equal records do not cancel (a sum, not an XOR).
	d := newHarness(t, Config{KeysMax: 8})
	d.put("k", "v")
	e := newHarness(t, Config{KeysMax: 8})
	e.put("k", "v", "k", "v")
	if d.s.Digest() != e.s.Digest() || d.s.Digest() == empty {
		t.Fatal("repeated put")
	}
	a.del("x", "y")
	if a.s.Digest() != empty {
		t.Fatal("emptied store, digest not the empty one")
	}
}

func TestSnapshotRestore(t *testing.T) {
	a := newHarness(t, Config{KeysMax: 16, ValueSizeMax: 32})
	a.put("m", "1", "b", "2", "z", "", "a", "44", "q", "5")
	a.del("q")
	a.put("c", "6")
	snap := a.s.Snapshot(nil)
	// A store with another slot history and the same contents snapshots
	// identically.
	b := newHarness(t, Config{KeysMax: 16, ValueSizeMax: 32})
	b.put("c", "6", "a", "44", "z", "", "b", "2", "m", "1")
	if !bytes.Equal(b.s.Snapshot(nil), snap) {
		t.Fatal("snapshot depends on history")
	}
	r := newHarness(t, Config{KeysMax: 6, ValueSizeMax: 32})
	r.put("old", "x")
	if err := r.s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r.s.Digest() != a.s.Digest() || !bytes.Equal(r.s.Snapshot([]byte{}), snap) {
		t.Fatal("restored store differs")
	}
	keys := []string{"a", "b", "c", "m", "q", "z", "old"}
	ga, gr := a.get(keys...), r.get(keys...)
	for i := range ga {
		if ga[i] != gr[i] {
			t.Fatalf("get %q: %v vs %v", keys[i], ga[i], gr[i])
		}
	}
	a.put("n", "7")
	r.put("n", "7")
	if r.s.Digest() != a.s.Digest() {
		t.Fatal("diverged after restore")
	}
}

func checkRestoreError(t *testing.T, s *Store, snap []byte, what string) {
	t.Helper()
	err := s.Restore(snap)
	if err == nil {
		t.Fatalf("%s: Restore accepted", what)
	}
	if !errors.Is(err, statemachine.ErrInvalidInput) || !errors.Is(err, ErrSnapshot) {
		t.Fatalf("%s: %v does not wrap ErrInvalidInput and ErrSnapshot", what, err)
	}
	if s.Len() != 0 {
		t.Fatalf("%s: failed Restore left keys", what)
	}
}

func reseal(b []byte) []byte {
	body := b[:len(b)-16]
	sum := wire.Checksum(body)
	binary.LittleEndian.PutUint64(b[len(body):], sum.Lo)
	binary.LittleEndian.PutUint64(b[len(body)+8:], sum.Hi)
	return b
}

func TestRestoreCorrupted(t *testing.T) {
	a := newHarness(t, Config{KeysMax: 4, ValueSizeMax: 8})
	a.put("k1", "v1", "k2", "")
	snap := a.s.Snapshot(nil)
	s := newHarness(t, Config{KeysMax: 4, ValueSizeMax: 8}).s
	for i := range snap {
		for _, bit := range []byte{1, 0x80} {
			c := bytes.Clone(snap)
			c[i] ^= bit
			checkRestoreError(t, s, c, "bit flip")
		}
	}
	for n := range len(snap) {
		checkRestoreError(t, s, snap[:n], "truncated")
	}
	checkRestoreError(t, s, append(bytes.Clone(snap), 0), "extended")

	rec := snapshotHeaderSize // first record: k1 → v1
	tests := []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[1] = 'X' }},
		{"version", func(b []byte) { b[8] = 9 }},
		{"reserved", func(b []byte) { b[12] = 1 }},
		{"reserved 2", func(b []byte) { b[20] = 1 }},
		{"count high", func(b []byte) { b[16] = 3 }},
		{"count low", func(b []byte) { b[16] = 1 }},
		{"capacity", func(b []byte) { b[16] = 5 }},
		{"key size zero", func(b []byte) { b[rec] = 0 }},
		{"key order", func(b []byte) { b[rec+5] = '3' }},
		{"duplicate key", func(b []byte) { b[rec+5] = '2' }},
	}
	for _, tt := range tests {
		c := bytes.Clone(snap)
		tt.edit(c)
		checkRestoreError(t, s, reseal(c), tt.name)
	}
	// Values above this store's ValueSizeMax.
	big := newHarness(t, Config{KeysMax: 4, ValueSizeMax: 16})
	big.put("k", "0123456789")
	checkRestoreError(t, s, big.s.Snapshot(nil), "value size")
	// More keys than this store holds.
	many := newHarness(t, Config{KeysMax: 8, ValueSizeMax: 8})
	many.put("1", "", "2", "", "3", "", "4", "", "5", "")
	checkRestoreError(t, s, many.s.Snapshot(nil), "capacity")
}
