// Package pgchaos runs the chaos test of the core (internal/chaos: real
// `chronon start` processes, kill -9 and pauses under a ledger load) with
// its effects delivered into PostgreSQL: the replicas post to a Bridge in
// this process (`--effects-sink=http://…`), which applies each effect
// through the PostgreSQL sink as one row of a payload table, in the same
// transaction as the effect's key. The checks then count, per created
// transfer, the rows that carry it: exactly one each, none for anything
// else.
package pgchaos

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/chronon-db/chronon/internal/chaos"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/sinks/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tables the sink writes (dropped and created by Open).
const (
	KeyTable     = "chronon_chaos_effects"
	PayloadTable = "chronon_chaos_payloads"
)

// Sink is a chaos.EffectsSink: a Bridge on a local port in front of the
// PostgreSQL sink.
type Sink struct {
	pool   *pgxpool.Pool
	bridge *postgres.Bridge
	srv    *http.Server
	url    string
	batch  int
}

// Open empties the chaos tables of pool's database and serves a bridge on
// 127.0.0.1; the replicas send batch effects per request (1: the single
// form).
func Open(ctx context.Context, pool *pgxpool.Pool, batch int, log *slog.Logger) (*Sink, error) {
	for _, t := range []string{KeyTable, PayloadTable} {
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			return nil, fmt.Errorf("pgchaos: %w", err)
		}
	}
	apply, err := postgres.StorePayloadsBatch(ctx, pool, PayloadTable)
	if err != nil {
		return nil, fmt.Errorf("pgchaos: %w", err)
	}
	sink, err := postgres.New(ctx, pool, postgres.Config{ApplyBatch: apply, Table: KeyTable})
	if err != nil {
		return nil, fmt.Errorf("pgchaos: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pgchaos: %w", err)
	}
	s := &Sink{pool: pool, bridge: postgres.NewBridge(sink, log), url: "http://" + ln.Addr().String() + "/effects", batch: max(batch, 1)}
	s.srv = &http.Server{Handler: s.bridge}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the bridge.
func (s *Sink) Close() error { return s.srv.Close() }

// URL implements chaos.EffectsSink.
func (s *Sink) URL() string { return s.url }

// Batch implements chaos.EffectsSink.
func (s *Sink) Batch() int { return s.batch }

func (s *Sink) String() string {
	return fmt.Sprintf("PostgreSQL (bridge, %d per request; rows of %s)", s.batch, PayloadTable)
}

// Applied implements chaos.EffectsSink: the rows of the payload table by
// the transfer each carries; deliveries are the effects the bridge handed
// to the sink, malformed the requests it refused and the rows that do not
// hold a transfer.
func (s *Sink) Applied(ctx context.Context) (map[uint64]int, int, int, error) {
	rows, err := s.pool.Query(ctx, "SELECT payload FROM "+PayloadTable)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	applied := map[uint64]int{}
	malformed := int(s.bridge.Malformed())
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, 0, 0, err
		}
		if len(payload) != ledger.TransferSize {
			malformed++
			continue
		}
		var tr ledger.Transfer
		tr.Decode(payload)
		applied[tr.ID.Lo]++
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, err
	}
	return applied, int(s.bridge.Effects()), malformed, nil
}

var _ chaos.EffectsSink = (*Sink)(nil)
