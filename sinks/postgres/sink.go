package postgres

import (
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

// Config configures a Sink.
type Config struct {
	// Apply does each effect's work (required).
	Apply ApplyFunc
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
	if cfg.Apply == nil {
		return nil, fmt.Errorf("%w: Apply is required", ErrConfig)
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
// The work of the effects runs first without savepoints; if one fails,
// the transaction is rolled back and the batch runs again with a savepoint
// per effect, so that only the failed effects' work is undone.
func (s *Sink) DeliverBatch(ctx context.Context, ds []outbox.Delivery, out []outbox.BatchResult) {
	err := s.deliverBatch(ctx, ds, out, false)
	if errors.Is(err, errWorkFailed) {
		clear(out)
		err = s.deliverBatch(ctx, ds, out, true)
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

// deliverBatch runs the transaction; an error means it did not commit.
// Without savepoints, the first failed work ends it with errWorkFailed.
func (s *Sink) deliverBatch(ctx context.Context, ds []outbox.Delivery, out []outbox.BatchResult, savepoints bool) error {
	// Lock rows in key order: two batches sharing keys cannot deadlock.
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ds[a].Key, ds[b].Key) })
	keys := make([]string, 0, len(ds))
	tokens := make([]int64, 0, len(ds))
	attempts := make([]int64, 0, len(ds))
	for n, i := range order {
		if n > 0 && ds[i].Key == ds[order[n-1]].Key {
			out[i] = outbox.BatchResult{Err: fmt.Errorf("postgres sink: key %s twice in one batch", ds[i].Key)}
			continue
		}
		keys = append(keys, ds[i].Key)
		tokens = append(tokens, int64(ds[i].Token))
		attempts = append(attempts, int64(ds[i].Attempt))
	}

	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres sink: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// New keys get a row (not done) at the delivery's token; then every
	// row of the batch is locked and read.
	if _, err := tx.Exec(ctx, `INSERT INTO `+s.table+` (key, token, attempt)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) ORDER BY 1
		ON CONFLICT (key) DO NOTHING`, keys, tokens, attempts); err != nil {
		return fmt.Errorf("postgres sink: insert keys: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT key, token, done, result FROM `+s.table+`
		WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`, keys)
	if err != nil {
		return fmt.Errorf("postgres sink: lock keys: %w", err)
	}
	state := make(map[string]row, len(keys))
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.token, &r.done, &r.result); err != nil {
			rows.Close()
			return fmt.Errorf("postgres sink: read keys: %w", err)
		}
		state[k] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres sink: read keys: %w", err)
	}

	// Raise the tokens below the deliveries' (fencing the older ones from
	// now on, whatever the work's outcome).
	var raiseKeys []string
	var raiseTokens []int64
	for _, i := range order {
		d := &ds[i]
		r, ok := state[d.Key]
		if out[i].Err != nil {
			continue
		}
		if !ok {
			return fmt.Errorf("postgres sink: key %s not found after insert", d.Key)
		}
		if r.token < int64(d.Token) {
			raiseKeys, raiseTokens = append(raiseKeys, d.Key), append(raiseTokens, int64(d.Token))
		}
	}
	if len(raiseKeys) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+s.table+` t SET token = u.token, updated_at = now()
			FROM unnest($1::text[], $2::bigint[]) AS u(key, token) WHERE t.key = u.key`, raiseKeys, raiseTokens); err != nil {
			return fmt.Errorf("postgres sink: raise tokens: %w", err)
		}
	}

	var doneKeys []string
	var doneResults [][]byte
	var doneAttempts []int64
	for _, i := range order {
		d := &ds[i]
		if out[i].Err != nil {
			continue
		}
		r := state[d.Key]
		switch {
		case r.token > int64(d.Token):
			out[i] = outbox.BatchResult{Err: fmt.Errorf("postgres sink: key %s token %d below %d: %w", d.Key, d.Token, r.token, outbox.ErrFenced)}
			continue
		case r.done:
			out[i] = outbox.BatchResult{Result: r.result} // replay: the work does not run again
			continue
		}
		var result []byte
		var err error
		if savepoints {
			result, err = s.applyInSavepoint(ctx, tx, d)
		} else {
			result, err = s.applyDirect(ctx, tx, d)
			if err != nil {
				return errWorkFailed
			}
		}
		if err != nil {
			out[i] = outbox.BatchResult{Err: err}
			continue
		}
		result = result[:min(len(result), s.cfg.ResultSizeMax)]
		out[i] = outbox.BatchResult{Result: result}
		doneKeys = append(doneKeys, d.Key)
		doneResults = append(doneResults, result)
		doneAttempts = append(doneAttempts, int64(d.Attempt))
	}
	if len(doneKeys) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+s.table+` t SET done = true, result = u.result, attempt = u.attempt, updated_at = now()
			FROM unnest($1::text[], $2::bytea[], $3::bigint[]) AS u(key, result, attempt) WHERE t.key = u.key`,
			doneKeys, doneResults, doneAttempts); err != nil {
			return fmt.Errorf("postgres sink: mark done: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres sink: commit: %w", err)
	}
	return nil
}

// applyDirect runs the work of d in tx.
func (s *Sink) applyDirect(ctx context.Context, tx pgx.Tx, d *outbox.Delivery) (result []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("postgres sink: apply panicked: %v", r)
		}
	}()
	return s.cfg.Apply(ctx, tx, *d)
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
	result, err = s.cfg.Apply(ctx, sp, *d)
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
