package kv

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/internal/allocs"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// keyOf writes a distinct 16-byte key for n.
func keyOf(b *[16]byte, n uint64) []byte {
	binary.LittleEndian.PutUint64(b[0:], n)
	binary.LittleEndian.PutUint64(b[8:], n*0x9e3779b97f4a7c15)
	return b[:]
}

// putBatch encodes n puts of keys first.. with values of size valueSize.
func putBatch(first uint64, n, valueSize int) []byte {
	var k [16]byte
	value := make([]byte, valueSize)
	var body []byte
	for i := range uint64(n) {
		body, _ = AppendPut(body, keyOf(&k, first+i), value)
	}
	return body
}

func getBatch(first uint64, n int) []byte {
	var k [16]byte
	var body []byte
	for i := range uint64(n) {
		body, _ = AppendGet(body, keyOf(&k, first+i))
	}
	return body
}

func TestApplyDoesNotAllocate(t *testing.T) {
	s, err := New(Config{KeysMax: 4096, ValueSizeMax: 128})
	if err != nil {
		t.Fatal(err)
	}
	var ctx statemachine.Context
	check := func(name string, op wire.Operation, body []byte, replySize int) {
		t.Helper()
		reply := make([]byte, s.ReplySizeMax(op, len(body)))
		allocs := testing.AllocsPerRun(20, func() {
			if n := s.Apply(&ctx, op, body, reply); n != replySize {
				t.Fatalf("%s: reply %d bytes, want %d", name, n, replySize)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocs per batch", name, allocs)
		}
	}
	check("put", OperationPut, putBatch(0, 256, 100), 256)
	check("get", OperationGet, getBatch(0, 256), 256*(3+100))
	var cas []byte
	var k [16]byte
	for i := range uint64(64) {
		cas, _ = AppendCompareAndSet(cas, keyOf(&k, i), make([]byte, 100), make([]byte, 100), 0)
	}
	check("compare_and_set", OperationCompareAndSet, cas, 64)
	var del []byte
	for i := range uint64(64) {
		del, _ = AppendDelete(del, keyOf(&k, 10_000+i))
	}
	check("delete", OperationDelete, del, 64)
}

// TestFillAndDrainDoNotAllocate fills the store to capacity, deletes
// everything and fills it again, counting the store's own allocations
// (AllocsPerRun would hide the first run, and MemStats counts the runtime's
// allocations too: internal/allocs).
func TestFillAndDrainDoNotAllocate(t *testing.T) {
	const keys = 2000
	s, _ := New(Config{KeysMax: keys, ValueSizeMax: 8})
	var ctx statemachine.Context
	puts := putBatch(0, keys, 8)
	puts2 := putBatch(keys, keys, 3)
	var del []byte
	var k [16]byte
	for i := range uint64(keys) {
		del, _ = AppendDelete(del, keyOf(&k, i))
	}
	reply := make([]byte, s.ReplySizeMax(OperationPut, len(puts)))
	var full, empty int
	n, stacks := allocs.Count("github.com/chronon-db/chronon/kv", func() {
		s.Apply(&ctx, OperationPut, puts, reply)
		full = s.Len()
		s.Apply(&ctx, OperationDelete, del, reply)
		empty = s.Len()
		s.Apply(&ctx, OperationPut, puts2, reply)
	})
	if full != keys || empty != 0 || s.Len() != keys {
		t.Fatalf("lengths %d, %d, %d", full, empty, s.Len())
	}
	if n != 0 {
		t.Fatalf("%d allocations while filling, draining and refilling:\n%s", n, strings.Join(stacks, "\n"))
	}
}
