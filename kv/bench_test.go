package kv

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// BenchmarkPut applies batches of 4096 puts (16-byte keys, 100-byte values)
// that overwrite keys of a store holding 65,536 keys.
func BenchmarkPut(b *testing.B) {
	const keys, batch, batches = 1 << 16, 4096, 16
	s, _ := New(Config{KeysMax: keys, ValueSizeMax: 128})
	var ctx statemachine.Context
	bodies := make([][]byte, batches)
	for i := range bodies {
		bodies[i] = putBatch(uint64(i*batch), batch, 100)
	}
	reply := make([]byte, s.ReplySizeMax(OperationPut, len(bodies[0])))
	for _, body := range bodies {
		s.Apply(&ctx, OperationPut, body, reply)
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if n := s.Apply(&ctx, OperationPut, bodies[i%batches], reply); n != batch {
			b.Fatalf("reply %d", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/put")
}

// BenchmarkPutInsertDelete inserts 4096 new keys per batch and deletes
// them again, exercising slot allocation and index deletion.
func BenchmarkPutInsertDelete(b *testing.B) {
	const batch = 4096
	s, _ := New(Config{KeysMax: 1 << 16, ValueSizeMax: 128})
	var ctx statemachine.Context
	puts := putBatch(1<<32, batch, 100)
	var del []byte
	var k [16]byte
	for i := range uint64(batch) {
		del, _ = AppendDelete(del, keyOf(&k, 1<<32+i))
	}
	for i := range 15 {
		s.Apply(&ctx, OperationPut, putBatch(uint64(i*batch), batch, 100), make([]byte, batch))
	}
	reply := make([]byte, batch)
	b.ReportAllocs()
	for b.Loop() {
		s.Apply(&ctx, OperationPut, puts, reply)
		s.Apply(&ctx, OperationDelete, del, reply)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/put+delete")
}

// BenchmarkGet reads batches of 1000 keys with 100-byte values.
func BenchmarkGet(b *testing.B) {
	const keys, batch = 1 << 16, 1000
	s, _ := New(Config{KeysMax: keys, ValueSizeMax: 128})
	var ctx statemachine.Context
	for i := range keys / 4096 {
		s.Apply(&ctx, OperationPut, putBatch(uint64(i*4096), 4096, 100), make([]byte, 4096))
	}
	body := getBatch(12345, batch)
	reply := make([]byte, s.ReplySizeMax(OperationGet, len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if n := s.Apply(&ctx, OperationGet, body, reply); n != batch*103 {
			b.Fatalf("reply %d", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/get")
}
