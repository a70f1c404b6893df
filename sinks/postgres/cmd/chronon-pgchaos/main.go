// Command chronon-pgchaos runs `chronon chaos` with the effects delivered
// into PostgreSQL: three `chronon start` processes (the given chronon
// binary) under a ledger load and process faults, every created transfer's
// effect posted by the CLI's HTTP sink to the PostgreSQL bridge in this
// process (package postgres), and at the end one row per created transfer
// checked in the payload table: no duplicate, none missing.
//
//	go build -o /tmp/chronon ./cmd/chronon   # at the repository's root
//	go run ./cmd/chronon-pgchaos --binary=/tmp/chronon --postgres=postgres://user@host/db --duration=2m
//
// It drops and creates the tables chronon_chaos_effects and
// chronon_chaos_payloads in that database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/internal/chaos"
	"github.com/chronon-db/chronon/sinks/postgres/internal/pgchaos"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() { os.Exit(run()) }

func run() int {
	url := flag.String("postgres", os.Getenv("CHRONON_POSTGRES_URL"), "PostgreSQL connection URL (default $CHRONON_POSTGRES_URL)")
	binary := flag.String("binary", "chronon", "the chronon executable started as replicas (looked up in $PATH without a slash)")
	duration := flag.Duration("duration", 2*time.Minute, "how long to inject faults")
	seed := flag.Uint64("seed", 1, "seed of the fault schedule")
	faults := flag.String("faults", "all", "fault kinds: all, none, or a comma-separated list of kill-primary, kill-backup, kill-two, pause-primary")
	preset := flag.String("preset", "production", "data file preset: production or test")
	clients := flag.Int("clients", 4, "client sessions making calls")
	batch := flag.Int("batch", 4, "transfers per call")
	callPause := flag.Duration("call-pause", 20*time.Millisecond, "pause of each client session after each acknowledged call")
	sinkBatch := flag.Int("sink-batch", 64, "effects per request to the bridge (--effects-batch; 1: one POST per effect)")
	dir := flag.String("dir", "", "directory for the data files and replica logs (default: a temporary one, removed after a run without violations)")
	verbose := flag.Bool("v", false, "log each fault as it happens")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "chronon-pgchaos: --postgres is required")
		return 2
	}
	kinds, err := chaos.ParseFaults(*faults)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	bin, err := exec.LookPath(*binary)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chronon-pgchaos: --binary: %v\n", err)
		return 2
	}
	temporary := *dir == ""
	if temporary {
		if *dir, err = os.MkdirTemp("", "chronon-pgchaos-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, *url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chronon-pgchaos: %v\n", err)
		return 1
	}
	defer pool.Close()
	sink, err := pgchaos.Open(ctx, pool, *sinkBatch, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chronon-pgchaos: %v\n", err)
		return 1
	}
	defer sink.Close()
	report, err := chaos.Run(ctx, chaos.Config{
		Binary: bin, Dir: *dir, Replicas: 3, Preset: *preset, Seed: *seed,
		Faults: kinds, Duration: *duration, Effects: true, Sink: sink,
		Clients: *clients, Batch: *batch, CallPause: *callPause, Log: log,
	})
	if report != nil {
		report.Write(os.Stdout)
	}
	if temporary && err == nil {
		os.RemoveAll(*dir)
	} else {
		fmt.Printf("data files and replica logs: %s\n", *dir)
	}
	switch {
	case errors.Is(err, chaos.ErrViolation):
		return 1
	case err != nil:
		fmt.Fprintf(os.Stderr, "chronon-pgchaos: %v\n", err)
		return 1
	}
	return 0
}
