package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/chronon-db/chronon/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Bridge serves the HTTP effect contract of `chronon start
// --effects-sink=http(s)://…` (docs/outbox.md): the single form of
// outbox.HTTPSink (one effect per POST, its key, token, attempt and kind in
// headers) and the batch form of outbox.HTTPBatchSink (Content-Type
// outbox.ContentTypeBatch), and applies every effect through a Sink, so
// that the chronon CLI, which does not link a database driver, delivers
// into PostgreSQL with the Sink's guarantee: the effect's work and its key
// in one transaction, the stored result replayed on a duplicate, a lower
// token fenced (answered 409).
//
// Answers, per effect: 200 with the result (done, or replayed), 409 fenced,
// 422 for an outbox.Permanent error of the work, 503 for anything else
// (the dispatcher retries). A malformed request is answered 400 (the
// dispatcher records a permanent failure) and counted (Malformed).
type Bridge struct {
	sink *Sink
	log  *slog.Logger
	// BodySizeMax bounds a request body (0: 64 MiB).
	BodySizeMax int64
	malformed   atomic.Uint64
	effects     atomic.Uint64
}

// NewBridge returns a bridge in front of sink; log receives failures (nil:
// discarded).
func NewBridge(sink *Sink, log *slog.Logger) *Bridge {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{sink: sink, log: log}
}

// Malformed returns how many requests were answered 400.
func (b *Bridge) Malformed() uint64 { return b.malformed.Load() }

// Effects returns how many effects were handed to the sink (duplicates
// included).
func (b *Bridge) Effects() uint64 { return b.effects.Load() }

// ErrBridgeRequest means a request does not follow the HTTP effect
// contract.
var ErrBridgeRequest = errors.New("postgres bridge: malformed effect request")

// ServeHTTP implements http.Handler.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST effects here", http.StatusMethodNotAllowed)
		return
	}
	limit := b.BodySizeMax
	if limit <= 0 {
		limit = 64 << 20
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	if err != nil {
		b.bad(w, fmt.Errorf("%w: body: %w", ErrBridgeRequest, err))
		return
	}
	if req.Header.Get("Content-Type") == outbox.ContentTypeBatch {
		b.serveBatch(w, req, body)
		return
	}
	d, err := ParseDeliveryHeaders(req.Header)
	if err != nil {
		b.bad(w, err)
		return
	}
	d.Payload = body
	var out [1]outbox.BatchResult
	b.effects.Add(1)
	b.sink.DeliverBatch(req.Context(), []outbox.Delivery{d}, out[:])
	status := b.status(&d, out[0].Err)
	if status != http.StatusOK {
		http.Error(w, out[0].Err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out[0].Result)
}

func (b *Bridge) serveBatch(w http.ResponseWriter, req *http.Request, body []byte) {
	effects, err := outbox.DecodeBatchRequest(nil, body)
	if err != nil {
		b.bad(w, fmt.Errorf("%w: %w", ErrBridgeRequest, err))
		return
	}
	ds := make([]outbox.Delivery, len(effects))
	for i, e := range effects {
		ds[i] = outbox.Delivery{Key: e.Key, Token: e.Token, Attempt: e.Attempt, Kind: e.Kind, Payload: e.Payload}
	}
	out := make([]outbox.BatchResult, len(ds))
	b.effects.Add(uint64(len(ds)))
	if len(ds) > 0 {
		b.sink.DeliverBatch(req.Context(), ds, out)
	}
	outcomes := make([]outbox.BatchOutcome, len(ds))
	for i := range ds {
		outcomes[i] = outbox.BatchOutcome{Status: b.status(&ds[i], out[i].Err), Result: out[i].Result}
		if outcomes[i].Status != http.StatusOK {
			outcomes[i].Result = nil
		}
	}
	w.Header().Set("Content-Type", outbox.ContentTypeBatch)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(outbox.AppendBatchResponse(nil, outcomes))
}

// status maps a Sink outcome to the HTTP status of one effect.
func (b *Bridge) status(d *outbox.Delivery, err error) int {
	var perm *outbox.PermanentError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, outbox.ErrFenced):
		return http.StatusConflict
	case errors.As(err, &perm):
		b.log.Warn("postgres bridge: effect failed for good", "key", d.Key, "reason", perm.Reason, "err", err)
		return http.StatusUnprocessableEntity
	}
	b.log.Warn("postgres bridge: effect not applied, the dispatcher retries", "key", d.Key, "err", err)
	return http.StatusServiceUnavailable
}

func (b *Bridge) bad(w http.ResponseWriter, err error) {
	b.malformed.Add(1)
	b.log.Warn("postgres bridge: malformed request", "err", err)
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// ParseDeliveryHeaders reads a single-form effect's headers
// (outbox.HeaderIdempotencyKey: 32 lowercase hex digits,
// outbox.HeaderFencingToken, outbox.HeaderAttempt ≥ 1, outbox.HeaderKind)
// into a Delivery without payload; an error wraps ErrBridgeRequest.
func ParseDeliveryHeaders(h http.Header) (outbox.Delivery, error) {
	key := h.Get(outbox.HeaderIdempotencyKey)
	if len(key) != 32 {
		return outbox.Delivery{}, fmt.Errorf("%w: %s of %d bytes, want 32 hex digits", ErrBridgeRequest, outbox.HeaderIdempotencyKey, len(key))
	}
	for i := range len(key) {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return outbox.Delivery{}, fmt.Errorf("%w: %s is not lowercase hex", ErrBridgeRequest, outbox.HeaderIdempotencyKey)
		}
	}
	token, err := strconv.ParseUint(h.Get(outbox.HeaderFencingToken), 10, 32)
	if err != nil {
		return outbox.Delivery{}, fmt.Errorf("%w: %s: %w", ErrBridgeRequest, outbox.HeaderFencingToken, err)
	}
	attempt, err := strconv.ParseUint(h.Get(outbox.HeaderAttempt), 10, 32)
	if err != nil || attempt == 0 {
		return outbox.Delivery{}, fmt.Errorf("%w: %s %q, want a number from 1", ErrBridgeRequest, outbox.HeaderAttempt, h.Get(outbox.HeaderAttempt))
	}
	var kind uint64
	if k := h.Get(outbox.HeaderKind); k != "" {
		if kind, err = strconv.ParseUint(k, 10, 16); err != nil {
			return outbox.Delivery{}, fmt.Errorf("%w: %s: %w", ErrBridgeRequest, outbox.HeaderKind, err)
		}
	}
	return outbox.Delivery{Key: key, Token: uint32(token), Attempt: uint32(attempt), Kind: outbox.Kind(kind)}, nil
}

// StorePayloads returns an ApplyFunc whose work is one row per effect in
// table (created if missing: key, kind, token, payload, applied_at; no
// unique constraint, so that a duplicate would show as a second row): a
// payload table anyone can read the effects from. Its result is empty.
func StorePayloads(ctx context.Context, pool *pgxpool.Pool, table string) (ApplyFunc, error) {
	if err := createPayloadTable(ctx, pool, table); err != nil {
		return nil, err
	}
	insert := `INSERT INTO ` + table + ` (key, kind, token, payload) VALUES ($1, $2, $3, $4)`
	return func(ctx context.Context, tx pgx.Tx, d outbox.Delivery) ([]byte, error) {
		if _, err := tx.Exec(ctx, insert, d.Key, int32(d.Kind), int64(d.Token), d.Payload); err != nil {
			return nil, err
		}
		return nil, nil
	}, nil
}

// StorePayloadsBatch is StorePayloads' work in the batch form: the rows of
// a whole batch in one multi-row INSERT (the bridge command's work).
func StorePayloadsBatch(ctx context.Context, pool *pgxpool.Pool, table string) (ApplyBatchFunc, error) {
	if err := createPayloadTable(ctx, pool, table); err != nil {
		return nil, err
	}
	insert := `INSERT INTO ` + table + ` (key, kind, token, payload)
		SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bytea[])`
	return func(ctx context.Context, tx pgx.Tx, ds []outbox.Delivery, results [][]byte) error {
		keys := make([]string, len(ds))
		kinds := make([]int32, len(ds))
		tokens := make([]int64, len(ds))
		payloads := make([][]byte, len(ds))
		for i := range ds {
			keys[i], kinds[i], tokens[i], payloads[i] = ds[i].Key, int32(ds[i].Kind), int64(ds[i].Token), ds[i].Payload
			if payloads[i] == nil {
				payloads[i] = []byte{} // the column is NOT NULL; nil would be NULL
			}
		}
		_, err := tx.Exec(ctx, insert, keys, kinds, tokens, payloads)
		return err
	}, nil
}

// createPayloadTable creates StorePayloads' table if missing.
func createPayloadTable(ctx context.Context, pool *pgxpool.Pool, table string) error {
	if !identifier.MatchString(table) {
		return fmt.Errorf("%w: table %q is not an identifier", ErrConfig, table)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		key text NOT NULL,
		kind integer NOT NULL,
		token bigint NOT NULL,
		payload bytea NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("postgres sink: creating %s: %w", table, err)
	}
	return nil
}
