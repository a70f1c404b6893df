package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/node"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "start", summary: "run a replica from its data file", run: runStart})
}

func runStart(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addresses := fs.String("addresses", "", "every replica's host:port, comma-separated, in replica order (required)")
	replica := fs.Int("replica", -1, "this replica's index (checked against the data file; optional)")
	machine := fs.String("state-machine", "ledger", "state machine: ledger or kv")
	backend := fs.String("io", "", "io backend: io_uring, fallback or auto (default: $"+cio.EnvBackend+" or auto)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://<host:port>/metrics (e.g. 127.0.0.1:9464; empty: off)")
	profiling := fs.Bool("pprof", false, "with --metrics, also serve the Go runtime's profiles at /debug/pprof/ (e.g. go tool pprof http://<host:port>/debug/pprof/profile?seconds=10)")
	statusInterval := fs.Duration("status-interval", 10*time.Second, "log the replica's view, op, commits and peers at this interval (0: never)")
	connectionsMax := fs.Int("connections-max", 0, "client connections this replica takes at once (default: the data file's client sessions); each costs a 4 KiB receive buffer and a socket, message buffers come from a budget shared by all clients (128 with the production preset); one more is refused with eviction too_many_connections")
	idleTimeout := fs.Duration("client-idle-timeout", time.Minute, "close a client connection without traffic for this long (the Go client reconnects on its next call); one that sends no whole message within a tenth of it is closed too")
	effectsURL := fs.String("effects-url", "", "ledger only: POST every created transfer to this URL exactly once (outbox effect with an Idempotency-Key); the same as --effects-sink with an http(s) URL")
	effectsSink := fs.String("effects-sink", "", "ledger only: where every created transfer goes exactly once, as an outbox effect: an http(s):// URL (webhook). The PostgreSQL and other sinks are Go modules of their own, wired through the Go API (docs/outbox.md)")
	effectsBatch := fs.Int("effects-batch", 1, "with --effects-sink: effects per HTTP request; above 1 the webhook must accept the batch form (docs/outbox.md, \"HTTP batch form\")")
	effectsWorkers := fs.Int("effects-workers", 0, "with --effects-sink: concurrent requests to the sink (default 64, or 8 with --effects-batch above 1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: chronon start --addresses=a:p,b:p,c:p [--replica=i] [--state-machine=ledger|kv] <data file>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *addresses == "" {
		fs.Usage()
		return 2
	}
	if *effectsSink != "" {
		if err := checkEffectsSink(*effectsSink); err != nil {
			fmt.Fprintf(stderr, "chronon start: --effects-sink: %v\n", err)
			return 2
		}
	}
	if *effectsBatch < 1 || *effectsWorkers < 0 {
		fmt.Fprintln(stderr, "chronon start: --effects-batch must be at least 1 and --effects-workers not negative")
		return 2
	}
	if *profiling && *metricsAddr == "" {
		fmt.Fprintln(stderr, "chronon start: --pprof needs --metrics")
		return 2
	}
	b, err := cio.ParseBackend(*backend)
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 2
	}
	if _, err := os.Stat(fs.Arg(0)); err != nil {
		fmt.Fprintf(stderr, "chronon start: data file: %v (create it with chronon format)\n", err)
		return 1
	}
	// The data file's preset fixes the state machine's capacity.
	sb, err := dataFileSuperblock(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
	}
	caps := capacityFor(sb.Config)
	var tbl *outbox.Table
	var sink outbox.Sink
	if *effectsURL != "" && *effectsSink != "" && *effectsURL != *effectsSink {
		fmt.Fprintln(stderr, "chronon start: --effects-url and --effects-sink name two sinks; give one")
		return 2
	}
	if *effectsSink != "" {
		*effectsURL = *effectsSink
	}
	if *effectsURL != "" {
		if *machine != "ledger" {
			fmt.Fprintln(stderr, "chronon start: --effects-sink needs --state-machine=ledger")
			return 2
		}

		if tbl, err = outbox.NewTable(outboxConfig(sb.Cluster, caps)); err != nil {
			fmt.Fprintf(stderr, "chronon start: %v\n", err)
			return 2
		}
		sink = &outbox.HTTPSink{Timeout: 5 * time.Second}
		if *effectsBatch > 1 {
			sink = &outbox.HTTPBatchSink{HTTPSink: outbox.HTTPSink{Timeout: 5 * time.Second}}
		}
	}
	sm, err := newStateMachine(*machine, caps, tbl, *effectsURL)
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 2
	}
	// Catch SIGTERM before recovery starts: a stop requested while the data
	// file is being recovered ends the process cleanly once it is open,
	// instead of killing it mid-write with the default action.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	n, err := node.Start(node.Config{
		DataFile:     fs.Arg(0),
		Addresses:    strings.Split(*addresses, ","),
		StateMachine: sm,
		IOBackend:    b,
		Logger:       logger,
		Sink:         sink,

		EffectsWorkers:  *effectsWorkers,
		EffectsBatchMax: *effectsBatch,

		StatusLogInterval: *statusInterval,
		ConnectionsMax:    *connectionsMax,
		ClientIdleTimeout: *idleTimeout,
	})
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
	}
	if *replica >= 0 && uint8(*replica) != n.Replica().Index() {
		n.Close()
		fmt.Fprintf(stderr, "chronon start: data file belongs to replica %d, not %d\n", n.Replica().Index(), *replica)
		return 2
	}
	if *metricsAddr != "" {
		addr, stopMetrics, err := serveMetrics(*metricsAddr, n, *profiling)
		if err != nil {
			n.Close()
			fmt.Fprintf(stderr, "chronon start: --metrics: %v\n", err)
			return 1
		}
		defer stopMetrics()
		logger.Info("node: metrics served", "url", "http://"+addr+"/metrics")
	}
	fmt.Fprintf(stdout, "replica %d listening on port %d\n", n.Replica().Index(), n.Port())
	if err := n.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
	}
	return 0
}

// capacity is what the state machines started by the CLI and the demo
// hold. It is fixed by the data file's preset, whose grid holds two
// checkpoints of the fullest state (journal.Config.CheckGrid, checked by
// node.Start); at capacity the state machine answers result full.
type capacity struct {
	ledgerAccounts, ledgerTransfers int
	kvKeys                          int
	outboxEffects                   int
}

// kvValueSizeMax is the largest value of the CLI's KV store.
const kvValueSizeMax = 256

var (
	capacityProduction = capacity{ledgerAccounts: 100_000, ledgerTransfers: 2_000_000, kvKeys: 100_000, outboxEffects: 16384}
	capacityTest       = capacity{ledgerAccounts: 1024, ledgerTransfers: 8192, kvKeys: 1024, outboxEffects: 1024}
)

// capacityFor returns the capacity for a data file's configuration: the
// test preset's for a file with the test preset's message size (whatever
// its client sessions), the production preset's for any other file
// (node.Start refuses a file whose grid cannot hold it).
func capacityFor(c journal.Config) capacity {
	if c.MessageSizeMax == journal.ConfigTest.MessageSizeMax {
		return capacityTest
	}
	return capacityProduction
}

// outboxConfig is the outbox of a ledger started with --effects-url: one
// effect per transfer, its payload the 128-byte transfer.
func outboxConfig(cluster wire.Uint128, caps capacity) outbox.Config {
	return outbox.Config{Cluster: cluster, EffectsMax: caps.outboxEffects, PayloadSizeMax: ledger.TransferSize}
}

// checkEffectsSink accepts an http(s) URL; for the schemes of the sink
// modules it says how to use them instead.
func checkEffectsSink(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", target)
		}
		return nil
	case "postgres", "postgresql":
		return fmt.Errorf("the PostgreSQL sink is the Go module github.com/chronon-db/chronon/sinks/postgres; this binary stays free of its driver: embed it through the Go API (node.Config.Sink), see docs/outbox.md")
	case "nats":
		return fmt.Errorf("the NATS JetStream sink is the Go module github.com/chronon-db/chronon/sinks/nats; this binary stays free of its client: embed it through the Go API (node.Config.Sink), see docs/outbox.md")
	}
	return fmt.Errorf("%q: want an http:// or https:// URL", target)
}

// newStateMachine builds the named state machine; with tbl (ledger only)
// every created transfer emits an effect to effectsURL, and the ledger
// comes wrapped with its outbox (outbox.Machine).
func newStateMachine(name string, caps capacity, tbl *outbox.Table, effectsURL string) (statemachine.StateMachine, error) {
	switch name {
	case "ledger":
		if tbl == nil {
			return newLedger(caps, nil, nil)
		}
		l, err := newLedger(caps, tbl.Emitter(), []byte(effectsURL))
		if err != nil {
			return nil, err
		}
		return outbox.NewMachine(l, tbl)
	case "kv":
		return kv.New(kv.Config{KeysMax: caps.kvKeys, ValueSizeMax: kvValueSizeMax, HashSeed: 0x43485230})
	}
	return nil, fmt.Errorf("unknown state machine %q (want ledger or kv)", name)
}

// newLedger builds the CLI's ledger; with effects every created transfer
// emits an effect to target.
func newLedger(caps capacity, effects *outbox.Emitter, target []byte) (*ledger.Ledger, error) {
	cfg := ledger.Config{AccountsMax: caps.ledgerAccounts, TransfersMax: caps.ledgerTransfers}
	if effects != nil {
		cfg.Effects, cfg.EffectsTarget = effects, target
	}
	return ledger.New(cfg)
}

// dataFileSuperblock reads a data file's superblock.
func dataFileSuperblock(path string) (journal.Superblock, error) {
	f, err := journal.OpenFile(path, true)
	if err != nil {
		return journal.Superblock{}, err
	}
	defer f.Close()
	sb, _, err := journal.ReadSuperblock(f)
	if err != nil {
		return journal.Superblock{}, err
	}
	return sb, nil
}
