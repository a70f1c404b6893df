package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newTestSink makes a sink whose work inserts the payload into the
// table applied, which has no unique constraint: a duplicate application
// would show as a second row. Payloads "fail" and "reject" fail the work
// (after inserting, so the savepoint must undo it) transiently and
// permanently.
func newTestSink(t *testing.T, pool *pgxpool.Pool) (*Sink, *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE applied (key text NOT NULL, payload bytea)`); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	s, err := New(ctx, pool, Config{Apply: func(ctx context.Context, tx pgx.Tx, d outbox.Delivery) ([]byte, error) {
		runs.Add(1)
		if _, err := tx.Exec(ctx, `INSERT INTO applied (key, payload) VALUES ($1, $2)`, d.Key, d.Payload); err != nil {
			return nil, err
		}
		switch string(d.Payload) {
		case "fail":
			return nil, errors.New("transient failure")
		case "reject":
			return nil, outbox.Permanent(outbox.ReasonUserMin+1, errors.New("rejected"))
		}
		return []byte("applied " + string(d.Payload)), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &runs
}

func delivery(n uint64, token uint32, payload string) outbox.Delivery {
	id := wire.Uint128{Lo: n, Hi: 0xc4}
	return outbox.Delivery{ID: id, Key: id.String(), Token: token, Attempt: 1, Payload: []byte(payload)}
}

// appliedRows counts the rows of applied, and the keys with more than one.
func appliedRows(t *testing.T, pool *pgxpool.Pool) (rows, duplicated int) {
	t.Helper()
	ctx := context.Background()
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM applied`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT key FROM applied GROUP BY key HAVING count(*) > 1) d`).Scan(&duplicated); err != nil {
		t.Fatal(err)
	}
	return rows, duplicated
}

// TestSinkExactlyOnceAndFencing: a key is applied once and its stored
// result replayed to a re-delivery (same or higher token); a lower token
// than the highest seen is fenced and runs nothing; a failed work is
// undone (savepoint) while the raised token stays; a permanent error
// passes through.
func TestSinkExactlyOnceAndFencing(t *testing.T) {
	pool := testPool(t)
	s, runs := newTestSink(t, pool)
	ctx := context.Background()

	res, err := s.Deliver(ctx, delivery(1, 2, "a"))
	if err != nil || string(res) != "applied a" {
		t.Fatalf("first delivery: %q %v", res, err)
	}
	for _, token := range []uint32{2, 5} {
		res, err = s.Deliver(ctx, delivery(1, token, "a"))
		if err != nil || string(res) != "applied a" {
			t.Fatalf("re-delivery with token %d: %q %v", token, res, err)
		}
	}
	if _, err := s.Deliver(ctx, delivery(1, 4, "a")); !errors.Is(err, outbox.ErrFenced) {
		t.Fatalf("token 4 after 5: %v, want fenced", err)
	}

	if _, err := s.Deliver(ctx, delivery(2, 7, "fail")); err == nil || errors.Is(err, outbox.ErrFenced) {
		t.Fatalf("failing work: %v", err)
	}
	if _, err := s.Deliver(ctx, delivery(2, 6, "fail")); !errors.Is(err, outbox.ErrFenced) {
		t.Fatalf("token 6 after a failed attempt with 7: %v, want fenced (the raised token survives the undo)", err)
	}
	var p *outbox.PermanentError
	if _, err := s.Deliver(ctx, delivery(3, 1, "reject")); !errors.As(err, &p) || p.Reason != outbox.ReasonUserMin+1 {
		t.Fatalf("permanent failure: %v", err)
	}
	// The work ran 5 times: "a" once, each failing work twice (in the
	// batch without savepoints, then in its savepoint), every failed run
	// undone: one row.
	if rows, dup := appliedRows(t, pool); rows != 1 || dup != 0 || runs.Load() != 5 {
		t.Fatalf("applied rows %d (duplicated %d), work ran %d times: want 1 row, 5 runs", rows, dup, runs.Load())
	}
}

// TestSinkBatchConcurrent: eight goroutines deliver overlapping batches
// (every key four times, with rising tokens) in one transaction each:
// every key is applied exactly once, lower tokens arriving late are fenced
// or replayed, never applied twice; no batch deadlocks.
func TestSinkBatchConcurrent(t *testing.T) {
	pool := testPool(t)
	s, _ := newTestSink(t, pool)
	const keys, copies, batch = 400, 4, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := make([]outbox.Delivery, 0, batch)
			out := make([]outbox.BatchResult, batch)
			for n := g; n < keys*copies; n += 8 {
				key := uint64(n/copies + 1)
				ds = append(ds, delivery(key, uint32(1+n%copies), fmt.Sprint(key)))
				if len(ds) == batch || n+8 >= keys*copies {
					s.DeliverBatch(context.Background(), ds, out[:len(ds)])
					mu.Lock()
					for i := range ds {
						switch err := out[i].Err; {
						case err == nil:
							outcomes["done"]++
						case errors.Is(err, outbox.ErrFenced):
							outcomes["fenced"]++
						default:
							outcomes["error: "+err.Error()]++
						}
					}
					mu.Unlock()
					ds = ds[:0]
				}
			}
		}()
	}
	wg.Wait()
	if rows, dup := appliedRows(t, pool); rows != keys || dup != 0 {
		t.Fatalf("applied rows %d (duplicated %d), want %d: outcomes %v", rows, dup, keys, outcomes)
	}
	if outcomes["done"]+outcomes["fenced"] != keys*copies {
		t.Fatalf("outcomes %v", outcomes)
	}
	var pending int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM chronon_effects WHERE NOT done`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d keys not done (%v)", pending, err)
	}
}
