package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/internal/chaos"
)

func init() {
	register(command{name: "chaos", summary: "kill and pause replica processes under load; check safety and convergence", run: runChaos})
}

func runChaos(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	replicas := fs.Int("replicas", 3, "number of replica processes")
	seed := fs.Uint64("seed", 1, "seed of the fault schedule (which fault, which replica, how long)")
	duration := fs.Duration("duration", time.Minute, "how long to inject faults (with --faults=none: how long to run the load)")
	faults := fs.String("faults", "all", "fault kinds to draw from: all, none, or a comma-separated list of kill-primary, kill-backup, kill-two, pause-primary")
	effects := fs.Bool("effects", true, "run replicas with --effects-url pointing at a deduplicating receiver in this process")
	dir := fs.String("dir", "", "directory for the data files, replica logs and the receiver's store (default: a temporary directory, removed after a run without violations)")
	preset := fs.String("preset", "production", "data file preset: production or test (test files hold only a few thousand transfers)")
	clients := fs.Int("clients", 4, "client sessions making calls")
	batch := fs.Int("batch", 4, "transfers per call")
	callPause := fs.Duration("call-pause", 20*time.Millisecond, "pause of each client session after each acknowledged call")
	pauseFor := fs.Duration("pause", 5*time.Second, "how long pause-primary stops the primary (SIGSTOP … SIGCONT)")
	verbose := fs.Bool("v", false, "log each fault as it happens")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: chronon chaos [--duration=10m] [--replicas=3] [--seed=1] [--faults=all] [--effects=true] [--dir=DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	kinds, err := chaos.ParseFaults(*faults)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "chronon chaos: %v\n", err)
		return 1
	}
	temporary := *dir == ""
	if temporary {
		d, err := os.MkdirTemp("", "chronon-chaos-")
		if err != nil {
			fmt.Fprintf(stderr, "chronon chaos: %v\n", err)
			return 1
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "chronon chaos: %v\n", err)
		return 1
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := chaos.Run(ctx, chaos.Config{
		Binary: bin, Dir: *dir, Replicas: *replicas, Preset: *preset, Seed: *seed,
		Faults: kinds, Duration: *duration, Effects: *effects,
		Clients: *clients, Batch: *batch, CallPause: *callPause, PauseFor: *pauseFor,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if report != nil {
		report.Write(stdout)
	}
	if temporary && err == nil {
		os.RemoveAll(*dir)
	} else {
		fmt.Fprintf(stdout, "data files and replica logs (<data file>.<incarnation>.log): %s\n", *dir)
	}
	switch {
	case errors.Is(err, chaos.ErrViolation):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "chronon chaos: %v\n", err)
		return 1
	}
	return 0
}
