// Command chronon-pgbench runs `chronon benchmark --workload=ledger-effects`
// (the bench package's harness, a local 3-replica cluster in this process,
// production preset) with the PostgreSQL sink in place of the built-in
// HTTP one: every created transfer becomes a row, inserted in the sink's
// transaction with its idempotency key (the batch form, Config.ApplyBatch:
// one multi-row INSERT per transaction).
//
//	go run ./cmd/chronon-pgbench --postgres=postgres://user@host:port/db --duration=3s
//
// It creates the table chronon_pgbench_transfers (dropped first) and the
// sink's key table chronon_effects (emptied first) in that database.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/chronon-db/chronon/bench"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/sinks/postgres"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	url := flag.String("postgres", "", "PostgreSQL connection URL (required)")
	duration := flag.Duration("duration", 3*time.Second, "the measured phase")
	batch := flag.Int("sink-batch", 64, "effects per transaction")
	workers := flag.Int("sink-workers", 0, "concurrent transactions (default: the node's, 8)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "chronon-pgbench: --postgres is required")
		os.Exit(2)
	}
	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(*url)
	if err != nil {
		fail(err)
	}
	pcfg.MaxConns = int32(max(*workers, 8) + 2)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		fail(err)
	}
	defer pool.Close()
	for _, q := range []string{
		`DROP TABLE IF EXISTS chronon_pgbench_transfers`,
		`CREATE TABLE chronon_pgbench_transfers (id text NOT NULL, body bytea NOT NULL)`,
		`DROP TABLE IF EXISTS chronon_effects`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			fail(err)
		}
	}
	const accounts, transfers = 100_000, 2_000_000
	cfg := bench.Config{
		Workload: bench.WorkloadLedgerEffects, Replicas: 3, Preset: "production",
		Clients: 32, Callers: 1, Batch: 64, Warmup: 2 * time.Second, Duration: *duration,
		Accounts: 10_000, Transfers: transfers, SinkBatch: *batch, SinkWorkers: *workers,
		DrainTimeout: time.Minute,
		Outbox:       outbox.Config{EffectsMax: 16384, PayloadSizeMax: ledger.TransferSize},
		NewEffectsMachine: func(effects *outbox.Emitter, target []byte) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: accounts, TransfersMax: transfers, Effects: effects, EffectsTarget: target})
			if err != nil {
				panic(err)
			}
			return l
		},
		NewEffectsSink: func(apply func([]byte) bool) outbox.Sink {
			// The batch form: one multi-row INSERT per transaction.
			s, err := postgres.New(ctx, pool, postgres.Config{ApplyBatch: func(ctx context.Context, tx pgx.Tx, ds []outbox.Delivery, _ [][]byte) error {
				ids := make([]string, len(ds))
				bodies := make([][]byte, len(ds))
				for i := range ds {
					ids[i], bodies[i] = ds[i].Key, ds[i].Payload
				}
				if _, err := tx.Exec(ctx, `INSERT INTO chronon_pgbench_transfers (id, body) SELECT * FROM unnest($1::text[], $2::bytea[])`, ids, bodies); err != nil {
					return err
				}
				for i := range ds {
					if !apply(ds[i].Payload) {
						return outbox.Permanent(outbox.ReasonUserMin, fmt.Errorf("not a transfer of this run"))
					}
				}
				return nil
			}})
			if err != nil {
				fail(err)
			}
			return s
		},
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fail(err)
	}
	res.WriteText(os.Stdout)
	var rows, distinct int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM chronon_pgbench_transfers`).Scan(&rows, &distinct); err != nil {
		fail(err)
	}
	fmt.Printf("postgres: %d rows, %d distinct effect keys\n", rows, distinct)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "chronon-pgbench: %v\n", err)
	os.Exit(1)
}
