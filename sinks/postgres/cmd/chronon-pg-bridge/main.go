// Command chronon-pg-bridge delivers a chronon cluster's effects into
// PostgreSQL exactly once, for clusters run with the chronon CLI (which
// links no database driver): it serves the HTTP effect contract that
// `chronon start --effects-sink=http://…` speaks, in its single and batch
// forms, and applies every effect through the PostgreSQL sink (package
// postgres): one row per effect in the payload table, committed in the
// same transaction as the effect's idempotency key in the key table, a
// duplicate answered with the stored result, a lower fencing token
// refused (409).
//
//	chronon-pg-bridge --listen=127.0.0.1:9470 --postgres=postgres://user@host/db
//	chronon start --effects-sink=http://127.0.0.1:9470/effects --effects-batch=64 …
//
// Run it beside each replica or once for the cluster: it keeps no state of
// its own (the key table is the dedup record), so any number of bridges
// may serve one database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/sinks/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("chronon-pg-bridge", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9470", "host:port to serve the HTTP effect contract on")
	url := fs.String("postgres", os.Getenv("CHRONON_POSTGRES_URL"), "PostgreSQL connection URL (default $CHRONON_POSTGRES_URL)")
	keyTable := fs.String("key-table", "chronon_effects", "the sink's key table (created if missing)")
	payloadTable := fs.String("payload-table", "chronon_effect_payloads", "the table that receives one row per effect: key, kind, token, payload (created if missing)")
	conns := fs.Int("connections", 16, "PostgreSQL connections at most (one per batch in flight)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" || *conns < 1 {
		fmt.Fprintln(os.Stderr, "chronon-pg-bridge: --postgres is required and --connections must be positive")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, log, *listen, *url, *keyTable, *payloadTable, *conns); err != nil {
		log.Error("chronon-pg-bridge", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, log *slog.Logger, listen, url, keyTable, payloadTable string, conns int) error {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("--postgres: %w", err)
	}
	pcfg.MaxConns = int32(conns)
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(startCtx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	apply, err := postgres.StorePayloadsBatch(startCtx, pool, payloadTable)
	if err != nil {
		return err
	}
	sink, err := postgres.New(startCtx, pool, postgres.Config{ApplyBatch: apply, Table: keyTable})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: postgres.NewBridge(sink, log), ReadHeaderTimeout: 10 * time.Second}
	log.Info("chronon-pg-bridge: serving", "address", ln.Addr().String(), "key_table", keyTable, "payload_table", payloadTable)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
