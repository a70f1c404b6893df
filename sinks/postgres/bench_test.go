package postgres

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/chronon-db/chronon/outbox"
	"github.com/jackc/pgx/v5"
)

// BenchmarkDeliverBatch measures the sink's drain rate: batches of 64
// effects, each inserting a 128-byte row, from 8 goroutines (the node's
// default workers) in one transaction per batch; it reports effects/s.
func BenchmarkDeliverBatch(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_rows (key text NOT NULL, payload bytea)`); err != nil {
		b.Fatal(err)
	}
	s, err := New(ctx, pool, Config{Apply: func(ctx context.Context, tx pgx.Tx, d outbox.Delivery) ([]byte, error) {
		_, err := tx.Exec(ctx, `INSERT INTO bench_rows (key, payload) VALUES ($1, $2)`, d.Key, d.Payload)
		return nil, err
	}})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	payload := make([]byte, 128)
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ds := make([]outbox.Delivery, 64)
		out := make([]outbox.BatchResult, 64)
		for pb.Next() {
			for i := range ds {
				ds[i] = delivery(next.Add(1), 1, "")
				ds[i].Payload = payload
			}
			s.DeliverBatch(ctx, ds, out)
			for i := range out {
				if out[i].Err != nil {
					b.Error(out[i].Err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "effects/s")
}

// BenchmarkDeliverBatchApplyBatch is BenchmarkDeliverBatch with the batch
// form (Config.ApplyBatch): the 64 rows of a batch in one multi-row INSERT.
func BenchmarkDeliverBatchApplyBatch(b *testing.B) {
	pool := benchPool(b)
	ctx := context.Background()
	apply, err := StorePayloadsBatch(ctx, pool, "bench_rows")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(ctx, pool, Config{ApplyBatch: apply})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	payload := make([]byte, 128)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ds := make([]outbox.Delivery, 64)
		out := make([]outbox.BatchResult, 64)
		for pb.Next() {
			for i := range ds {
				ds[i] = delivery(next.Add(1), 1, "")
				ds[i].Payload = payload
			}
			s.DeliverBatch(ctx, ds, out)
			for i := range out {
				if out[i].Err != nil {
					b.Error(out[i].Err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "effects/s")
}
