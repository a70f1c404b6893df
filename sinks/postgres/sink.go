package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/chronon-db/chronon/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ApplyFunc does an effect's work in tx, the sink's transaction, and
// returns its result (kept by the outbox up to its ResultSizeMax, and
// stored in the key table for replays). It must not commit or roll back
// tx. Return an outbox.Permanent error for work that can never succeed.
type ApplyFunc func(ctx context.Context, tx pgx.Tx, d outbox.Delivery) ([]byte, error)

// ApplyBatchFunc does the work of many effects at once in tx, the sink's
// transaction (for example one multi-row INSERT … SELECT FROM unnest(…)),
// and sets results[i] to the result of ds[i]. It succeeds for all of them
// or returns an error: the sink then rolls the transaction back and runs
// the batch again with one effect per call, each in a savepoint, so that
// only the failing effects' work is undone and each gets its own outcome.
// It must not commit or roll back tx.
type ApplyBatchFunc func(ctx context.Context, tx pgx.Tx, ds []outbox.Delivery, results [][]byte) error

// Config configures a Sink.
type Config struct {
	// Apply does each effect's work. Apply or ApplyBatch is required.
	Apply ApplyFunc
	// ApplyBatch does the work of every effect of a batch to run in one
	// call (one round trip for the batch's work instead of one per
	// effect). With both set, Apply runs the effects one at a time when a
	// batch's work failed; with ApplyBatch alone, ApplyBatch does with a
	// batch of one.
	ApplyBatch ApplyBatchFunc
	// Table is the key table's name, an SQL identifier, optionally
	// schema-qualified; empty means "chronon_effects".
	Table string
	// ResultSizeMax truncates stored results; 0 means
	// outbox.DefaultResultSizeMax.
	ResultSizeMax int
}

// Sink applies effects to PostgreSQL exactly once (see the package
// documentation). It implements outbox.BatchSink and is safe for
// concurrent use.
type Sink struct {
	pool  *pgxpool.Pool
	cfg   Config
	table string
}

// ErrConfig means a Config is unusable.
var ErrConfig = errors.New("postgres sink: invalid config")

var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)?$`)

// New makes a sink over pool and creates the key table if it does not
// exist.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Sink, error) {
	if cfg.Apply == nil && cfg.ApplyBatch == nil {
		return nil, fmt.Errorf("%w: Apply or ApplyBatch is required", ErrConfig)
	}
	if cfg.Table == "" {
		cfg.Table = "chronon_effects"
	}
	if !identifier.MatchString(cfg.Table) {
		return nil, fmt.Errorf("%w: table %q is not an identifier", ErrConfig, cfg.Table)
	}
	if cfg.ResultSizeMax <= 0 {
		cfg.ResultSizeMax = outbox.DefaultResultSizeMax
	}
	s := &Sink{pool: pool, cfg: cfg, table: cfg.Table}
	_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
		key text PRIMARY KEY,
		token bigint NOT NULL,
		attempt bigint NOT NULL,
		done boolean NOT NULL DEFAULT false,
		result bytea,
		updated_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: creating %s: %w", s.table, err)
	}
	return s, nil
}

// Deliver applies one effect in its own transaction.
func (s *Sink) Deliver(ctx context.Context, d outbox.Delivery) ([]byte, error) {
	var out [1]outbox.BatchResult
	s.DeliverBatch(ctx, []outbox.Delivery{d}, out[:])
	return out[0].Result, out[0].Err
}

// row is a key's state as locked by the batch's transaction.
type row struct {
	token  int64
	done   bool
	result []byte
}

// DeliverBatch applies ds in one transaction, with an outcome per
// delivery.
//
// The work of the effects runs first without savepoints (with
// Config.ApplyBatch, in one call); if it fails, the transaction is rolled
// back and the batch runs again with a savepoint per effect, so that only
// the failed effects' work is undone. A key delivered more than once in ds
// runs at most once, as if its delivery with the highest token came
// first: the others get its outcome (its stored result on success), or
// ErrFenced for a lower token. A batch that raced another transaction
// inserting one of its new keys (a concurrent delivery of the same
// effect) is rolled back and run again, up to keyRaceRetries times: then
// that key has its row, and is replayed or fenced by it.
func (s *Sink) DeliverBatch(ctx context.Context, ds []outbox.Delivery, out []outbox.BatchResult) {
	savepoints, races := false, 0
	err := s.deliverBatch(ctx, ds, out, savepoints)
	for again := true; again; {
		switch {
		case errors.Is(err, errWorkFailed) && !savepoints:
			savepoints = true
		case errors.Is(err, errKeyRace) && races < keyRaceRetries:
			races++
		default:
			again = false
			continue
		}
		clear(out)
		err = s.deliverBatch(ctx, ds, out, savepoints)
	}
	if err != nil {
		for i := range out {
			if out[i].Err == nil || !isFenced(out[i].Err) {
				out[i] = outbox.BatchResult{Err: err}
			}
		}
	}
}

func isFenced(err error) bool { return errors.Is(err, outbox.ErrFenced) }

// errWorkFailed ends a batch run without savepoints when an effect's work
// failed: the batch runs again with them.
var errWorkFailed = errors.New("postgres sink: an effect's work failed")

// keyRaceRetries bounds DeliverBatch's runs again after errKeyRace.
const keyRaceRetries = 3

// errKeyRace ends a batch whose new key was inserted by another
// transaction meanwhile (a concurrent delivery of the same effect): the
// batch is rolled back, its work undone, and every delivery retried
// (then replayed or fenced by that row).
var errKeyRace = errors.New("postgres sink: a key of the batch was delivered concurrently; retry")

// deliverBatch runs the transaction; an error means it did not commit.
// Without savepoints, the first failed work ends it with errWorkFailed.
//
// Keys that already have a row are locked and read first (FOR UPDATE, in
// key order): fenced, replayed, or their token raised before the work.
// A key without a row gets one only after its work, inserted done with
// its result (or not done, at its token, when the work failed) in one
// statement for the batch: a fresh key costs one row version, not an
// insert, a lock and an update. Should another transaction have inserted
// it since (ON CONFLICT DO NOTHING inserts fewer rows than asked), the
// batch is rolled back with errKeyRace: nothing of it happened.
func (s *Sink) deliverBatch(ctx context.Context, ds []outbox.Delivery, out []outbox.BatchResult, savepoints bool) error {
	// Lock rows in key order: two batches sharing keys cannot deadlock. A
	// key's first delivery in this order (its highest token) stands for
	// the others (same[i]: the delivery i follows, -1 for none).
	order := make([]int, len(ds))
	same := make([]int, len(ds))
	for i := range order {
		order[i], same[i] = i, -1
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(ds[a].Key, ds[b].Key), cmp.Compare(ds[b].Token, ds[a].Token), cmp.Compare(a, b))
	})
	keys := make([]string, 0, len(ds))
	for n, i := range order {
		if n > 0 && ds[i].Key == ds[order[n-1]].Key {
			same[i] = order[n-1]
			if same[same[i]] >= 0 {
				same[i] = same[same[i]]
			}
			continue
		}
		keys = append(keys, ds[i].Key)
	}

	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres sink: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	state, err := s.lockKeys(ctx, tx, keys)
	if err != nil {
		return err
	}

	// Raise the tokens of existing rows below the deliveries' (fencing
	// the older ones from now on, whatever the work's outcome); pick the
	// deliveries whose work runs.
	var raiseKeys []string
	var raiseTokens []int64
	run := make([]int, 0, len(keys))
	for _, i := range order {
		d := &ds[i]
		if same[i] >= 0 {
			continue
		}
		r, ok := state[d.Key]
		if ok && r.token > int64(d.Token) {
			out[i] = outbox.BatchResult{Err: fmt.Errorf("postgres sink: key %s token %d below %d: %w", d.Key, d.Token, r.token, outbox.ErrFenced)}
			continue
		}
		if ok && r.token < int64(d.Token) {
			raiseKeys, raiseTokens = append(raiseKeys, d.Key), append(raiseTokens, int64(d.Token))
		}
		if ok && r.done {
			out[i] = outbox.BatchResult{Result: r.result} // replay: the work does not run again
			continue
		}
		run = append(run, i)
	}
	if len(raiseKeys) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+s.table+` t SET token = u.token, updated_at = now()
			FROM unnest($1::text[], $2::bigint[]) AS u(key, token) WHERE t.key = u.key`, raiseKeys, raiseTokens); err != nil {
			return fmt.Errorf("postgres sink: raise tokens: %w", err)
		}
	}

	// The work: in one call (ApplyBatch, no savepoints), else per effect.
	ok := make([]bool, len(ds))
	if !savepoints && s.cfg.ApplyBatch != nil && len(run) > 0 {
		batch := make([]outbox.Delivery, len(run))
		results := make([][]byte, len(run))
		for j, i := range run {
			batch[j] = ds[i]
		}
		if err := s.applyBatchDirect(ctx, tx, batch, results); err != nil {
			return errWorkFailed
		}
		for j, i := range run {
			out[i], ok[i] = outbox.BatchResult{Result: results[j][:min(len(results[j]), s.cfg.ResultSizeMax)]}, true
		}
	} else {
		for _, i := range run {
			var result []byte
			var err error
			if savepoints {
				result, err = s.applyInSavepoint(ctx, tx, &ds[i])
			} else if result, err = s.applyDirect(ctx, tx, &ds[i]); err != nil {
				return errWorkFailed
			}
			if err != nil {
				out[i] = outbox.BatchResult{Err: err}
				continue
			}
			out[i], ok[i] = outbox.BatchResult{Result: result[:min(len(result), s.cfg.ResultSizeMax)]}, true
		}
	}

	// Record the outcomes: existing rows become done; new keys are
	// inserted, done or (failed work) at their token.
	var doneKeys, newKeys []string
	var doneResults, newResults [][]byte
	var doneAttempts, newTokens, newAttempts []int64
	var newDone []bool
	for _, i := range run {
		d := &ds[i]
		if _, exists := state[d.Key]; exists {
			if ok[i] {
				doneKeys, doneResults, doneAttempts = append(doneKeys, d.Key), append(doneResults, out[i].Result), append(doneAttempts, int64(d.Attempt))
			}
			continue
		}
		newKeys, newTokens, newAttempts = append(newKeys, d.Key), append(newTokens, int64(d.Token)), append(newAttempts, int64(d.Attempt))
		newDone, newResults = append(newDone, ok[i]), append(newResults, out[i].Result)
	}
	if len(doneKeys) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+s.table+` t SET done = true, result = u.result, attempt = u.attempt, updated_at = now()
			FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS u(key, result, attempt) WHERE t.key = u.key`,
			doneKeys, doneResults, doneAttempts); err != nil {
			return fmt.Errorf("postgres sink: mark done: %w", err)
		}
	}
	if len(newKeys) > 0 {
		tag, err := tx.Exec(ctx, `INSERT INTO `+s.table+` (key, token, attempt, done, result)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::boolean[], $5::bytea[])
			ON CONFLICT (key) DO NOTHING`, newKeys, newTokens, newAttempts, newDone, newResults)
		if err != nil {
			return fmt.Errorf("postgres sink: insert keys: %w", err)
		}
		if tag.RowsAffected() != int64(len(newKeys)) {
			return errKeyRace
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres sink: commit: %w", err)
	}
	for i, j := range same {
		switch {
		case j < 0:
		case ds[i].Token < ds[j].Token:
			out[i] = outbox.BatchResult{Err: fmt.Errorf("postgres sink: key %s token %d below %d in the same batch: %w", ds[i].Key, ds[i].Token, ds[j].Token, outbox.ErrFenced)}
		default:
			out[i] = out[j]
		}
	}
	return nil
}

// lockKeys locks and reads the rows of the keys that have one.
func (s *Sink) lockKeys(ctx context.Context, tx pgx.Tx, keys []string) (map[string]row, error) {
	rows, err := tx.Query(ctx, `SELECT key, token, done, result FROM `+s.table+`
		WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: lock keys: %w", err)
	}
	state := make(map[string]row, len(keys))
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.token, &r.done, &r.result); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres sink: read keys: %w", err)
		}
		state[k] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres sink: read keys: %w", err)
	}
	return state, nil
}

// applyOne runs the work of d in tx: Apply, or ApplyBatch with d alone.
func (s *Sink) applyOne(ctx context.Context, tx pgx.Tx, d *outbox.Delivery) ([]byte, error) {
	if s.cfg.Apply != nil {
		return s.cfg.Apply(ctx, tx, *d)
	}
	var results [1][]byte
	if err := s.cfg.ApplyBatch(ctx, tx, []outbox.Delivery{*d}, results[:]); err != nil {
		return nil, err
	}
	return results[0], nil
}

// applyDirect runs the work of d in tx.
func (s *Sink) applyDirect(ctx context.Context, tx pgx.Tx, d *outbox.Delivery) (result []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("postgres sink: apply panicked: %v", r)
		}
	}()
	return s.applyOne(ctx, tx, d)
}

// applyBatchDirect runs the work of ds in tx in one ApplyBatch call.
func (s *Sink) applyBatchDirect(ctx context.Context, tx pgx.Tx, ds []outbox.Delivery, results [][]byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("postgres sink: apply panicked: %v", r)
		}
	}()
	return s.cfg.ApplyBatch(ctx, tx, ds, results)
}

// applyInSavepoint runs the work of d in a savepoint of tx: undone on
// error.
func (s *Sink) applyInSavepoint(ctx context.Context, tx pgx.Tx, d *outbox.Delivery) (result []byte, err error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: savepoint: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = sp.Rollback(ctx)
			result, err = nil, fmt.Errorf("postgres sink: apply panicked: %v", r)
		}
	}()
	result, err = s.applyOne(ctx, sp, d)
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("postgres sink: rollback to savepoint after %w: %v", err, rerr)
		}
		return nil, err
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres sink: release savepoint: %w", err)
	}
	return result, nil
}
