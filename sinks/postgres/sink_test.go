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

// newBatchTestSink is newTestSink's work in the batch form
// (Config.ApplyBatch alone): one multi-row INSERT per call into applied;
// a payload "fail" or "reject" fails the whole call after the insert (the
// rollback must undo it), and the sink runs the effects again one per
// call, each in a savepoint. calls counts ApplyBatch calls, runs the
// effects handed to it.
func newBatchTestSink(t *testing.T, pool *pgxpool.Pool) (s *Sink, calls, runs *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE applied (key text NOT NULL, payload bytea)`); err != nil {
		t.Fatal(err)
	}
	calls, runs = new(atomic.Int64), new(atomic.Int64)
	s, err := New(ctx, pool, Config{ApplyBatch: func(ctx context.Context, tx pgx.Tx, ds []outbox.Delivery, results [][]byte) error {
		calls.Add(1)
		runs.Add(int64(len(ds)))
		keys := make([]string, len(ds))
		payloads := make([][]byte, len(ds))
		for i, d := range ds {
			keys[i], payloads[i] = d.Key, d.Payload
		}
		if _, err := tx.Exec(ctx, `INSERT INTO applied (key, payload) SELECT * FROM unnest($1::text[], $2::bytea[])`, keys, payloads); err != nil {
			return err
		}
		for i, d := range ds {
			switch string(d.Payload) {
			case "fail":
				return errors.New("transient failure")
			case "reject":
				return outbox.Permanent(outbox.ReasonUserMin+1, errors.New("rejected"))
			}
			results[i] = []byte("applied " + string(d.Payload))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, calls, runs
}

// TestSinkApplyBatch: with Config.ApplyBatch, the work of a whole batch
// runs in one call, each key's work and its row in one commit; a key
// delivered again (in a later batch, or twice in the same one) gets its
// stored result without running again, a lower token than the key's
// highest is fenced, in the key table or in the batch; a failing effect
// makes the batch run again one effect per call, each in a savepoint, so
// only its work is undone and the others are applied once.
func TestSinkApplyBatch(t *testing.T) {
	pool := testPool(t)
	s, calls, runs := newBatchTestSink(t, pool)
	ctx := context.Background()
	deliver := func(ds ...outbox.Delivery) []outbox.BatchResult {
		out := make([]outbox.BatchResult, len(ds))
		s.DeliverBatch(ctx, ds, out)
		return out
	}
	applied := func(r outbox.BatchResult, payload string) bool {
		return r.Err == nil && string(r.Result) == "applied "+payload
	}
	fenced := func(r outbox.BatchResult) bool { return errors.Is(r.Err, outbox.ErrFenced) }

	// One call for a batch of 64.
	var ds []outbox.Delivery
	for n := range uint64(64) {
		ds = append(ds, delivery(100+n, 2, fmt.Sprint(n)))
	}
	for i, r := range deliver(ds...) {
		if !applied(r, fmt.Sprint(i)) {
			t.Fatalf("batch of 64: effect %d: %+v", i, r)
		}
	}
	if calls.Load() != 1 || runs.Load() != 64 {
		t.Fatalf("batch of 64: %d calls running %d effects, want 1 and 64", calls.Load(), runs.Load())
	}

	// Duplicates: of earlier rows (replayed, and fenced below their
	// token), and inside the batch: key 1 three times (tokens 3, 3, 2:
	// applied once, replayed, fenced), key 2 with token 2 before token 4
	// (the highest runs, the lower is fenced).
	out := deliver(delivery(100, 2, "0"), delivery(101, 1, "1"), delivery(1, 3, "x"), delivery(2, 2, "y"),
		delivery(1, 3, "x"), delivery(2, 4, "y"), delivery(1, 2, "x"), delivery(102, 5, "2"))
	if !applied(out[0], "0") || !fenced(out[1]) || !applied(out[2], "x") || !fenced(out[3]) ||
		!applied(out[4], "x") || !applied(out[5], "y") || !fenced(out[6]) || !applied(out[7], "2") {
		t.Fatalf("duplicates: %+v", out)
	}
	if calls.Load() != 2 || runs.Load() != 66 {
		t.Fatalf("duplicates: %d calls running %d effects, want 2 and 66 (keys 1 and 2 run once)", calls.Load(), runs.Load())
	}
	if out := deliver(delivery(2, 3, "y")); !fenced(out[0]) {
		t.Fatalf("token 3 after the batch's 4 for the same key: %+v", out)
	}

	// A failing effect: the batch runs again one per call.
	out = deliver(delivery(3, 1, "a"), delivery(4, 1, "fail"), delivery(5, 1, "reject"), delivery(6, 1, "b"))
	var perm *outbox.PermanentError
	if !applied(out[0], "a") || out[1].Err == nil || fenced(out[1]) || errors.As(out[1].Err, &perm) ||
		!errors.As(out[2].Err, &perm) || perm.Reason != outbox.ReasonUserMin+1 || !applied(out[3], "b") {
		t.Fatalf("failing effects: %+v", out)
	}
	if calls.Load() != 2+1+4 {
		t.Fatalf("failing effects: %d calls, want 7 (1 batch, then 4 of one)", calls.Load())
	}
	if out := deliver(delivery(4, 1, "ok"), delivery(3, 1, "a")); !applied(out[0], "ok") || !applied(out[1], "a") {
		t.Fatalf("after the failure: %+v", out)
	}
	// 64 + keys 1, 2, 3, 6 and 4 (the second time): each once.
	if rows, dup := appliedRows(t, pool); rows != 69 || dup != 0 {
		t.Fatalf("applied rows %d (duplicated %d), want 69 once each", rows, dup)
	}
	var pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM chronon_effects WHERE NOT done`).Scan(&pending); err != nil || pending != 1 {
		t.Fatalf("%d keys not done (%v), want 1 (the rejected)", pending, err)
	}
}

// TestSinkBatchConcurrentApplyBatch is TestSinkBatchConcurrent with the
// batch form: overlapping batches from eight goroutines, every key applied
// exactly once.
func TestSinkBatchConcurrentApplyBatch(t *testing.T) {
	pool := testPool(t)
	s, _, _ := newBatchTestSink(t, pool)
	const keys, copies, batch = 400, 4, 50
	var wg sync.WaitGroup
	var done, fenced, failed atomic.Int64
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
					for i := range ds {
						switch err := out[i].Err; {
						case err == nil:
							done.Add(1)
						case errors.Is(err, outbox.ErrFenced):
							fenced.Add(1)
						default:
							failed.Add(1)
							t.Errorf("delivery of %s: %v", ds[i].Key, err)
						}
					}
					ds = ds[:0]
				}
			}
		}()
	}
	wg.Wait()
	if rows, dup := appliedRows(t, pool); rows != keys || dup != 0 || done.Load()+fenced.Load() != keys*copies {
		t.Fatalf("applied rows %d (duplicated %d), want %d; done %d fenced %d failed %d", rows, dup, keys, done.Load(), fenced.Load(), failed.Load())
	}
}
