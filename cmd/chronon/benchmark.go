package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/bench"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "benchmark", summary: "measure throughput and latency of a kv or ledger workload", run: runBenchmark})
}

const benchmarkUsage = `usage: chronon benchmark [flags]

Starts a local cluster in this process (or targets a running one with
--addresses and --cluster), drives a kv, ledger or ledger-effects workload
from --clients client sessions with --callers concurrent callers each, one
call in flight per caller, for --warmup and then the measured --duration,
and prints throughput (requests/s and events/s), latency percentiles from
an HDR histogram, CPU time and peak RSS of this process; with
ledger-effects also the effects delivered to its built-in idempotent HTTP
sink, refusals as outbox_full, the drain after the load, and
re-deliveries. Ctrl-C stops the load and prints what was measured so far.
With no flags: kv puts of 16-byte keys and 64-byte values, 32 clients, 3
replicas, production preset, 2s + 10s.

flags:`

// benchmarkOptions are the parsed flags of `chronon benchmark`.
type benchmarkOptions struct {
	cfg        bench.Config
	json       bool
	cpuProfile string
	sweep      sweepOptions
}

// parseBenchmarkArgs parses and checks the flags; with --help it returns
// flag.ErrHelp.
func parseBenchmarkArgs(args []string, stderr io.Writer) (benchmarkOptions, error) {
	var o benchmarkOptions
	cfg := &o.cfg
	fs := flag.NewFlagSet("benchmark", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Workload, "workload", bench.WorkloadKV, "kv (puts and gets), ledger (transfers), ledger-lookup (random lookups by id of the --transfers transfers an earlier ledger run created on a running cluster) or ledger-effects (transfers, each emitting an outbox effect delivered by HTTP to a sink in this process; local cluster only)")
	fs.IntVar(&cfg.Replicas, "replicas", 3, "replicas of the local cluster (1, 3 or 5)")
	fs.StringVar(&cfg.Preset, "preset", "production", "data file preset of the local cluster, and message size of a running one: production (1 MiB messages) or test")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the local cluster's data files, reused with their contents if present (default: a temporary directory, removed at the end)")
	addresses := fs.String("addresses", "", "a running cluster's replicas' host:port, comma-separated, in replica order (default: start a local cluster)")
	clusterID := fs.String("cluster", "", "the running cluster's id, decimal or 0x-hex (required with --addresses)")
	fs.IntVar(&cfg.Clients, "clients", 32, "client sessions")
	fs.IntVar(&cfg.ClientsMax, "clients-max", 0, "client sessions the local cluster's data files hold, as chronon format --clients-max (default: the preset's, 1024 or 16, or --clients when more; with a sweep, its largest client count)")
	fs.IntVar(&cfg.Callers, "callers", 1, "concurrent callers per client, one call in flight each (a client coalesces its callers' calls)")
	fs.IntVar(&cfg.Batch, "batch", 0, "events per call: kv records or transfers (default 1 for kv, 64 for ledger and ledger-effects)")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before the measured phase, not measured")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "the measured phase")
	fs.IntVar(&cfg.KeySize, "key-size", 16, "kv: key size in bytes (1 to 64)")
	fs.IntVar(&cfg.ValueSize, "value-size", 64, fmt.Sprintf("kv: value size in bytes (at most %d on a local cluster)", kvValueSizeMax))
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", 0, "kv: share of calls that are gets (0 to 1); every key is written once first when above 0")
	fs.IntVar(&cfg.Keys, "keys", 0, "kv: distinct keys, chosen uniformly (default: the preset's kv capacity, 100000 or 1024; a local cluster's store holds more when asked)")
	fs.IntVar(&cfg.Accounts, "accounts", 10_000, "ledger, ledger-effects: accounts, created first (a local cluster's ledger holds the preset's capacity, 100000 or 1024, or more when asked; with the default, at most the preset's)")
	fs.IntVar(&cfg.HotAccounts, "hot-accounts", 0, "ledger, ledger-effects: when above 0, every transfer debits one of this many first accounts (contention); 0 is uniform")
	fs.IntVar(&cfg.Transfers, "transfers", 0, "ledger, ledger-effects: transfers at most in the whole run (default: the preset's capacity, 2000000 or 8192; a local cluster's ledger holds more when asked, and each replica's memory grows by about 35 bytes per transfer of capacity)")
	fs.IntVar(&cfg.SinkBatch, "sink-batch", 64, "ledger-effects: effects per request to the sink (the HTTP batch form of outbox.HTTPBatchSink); 1 posts one request per effect (outbox.HTTPSink)")
	fs.IntVar(&cfg.SinkWorkers, "sink-workers", 0, "ledger-effects: concurrent requests to the sink (default: the node's, 8 with batches, 64 with --sink-batch=1)")
	admission := fs.Int("effects-admission", 50, "ledger-effects: the local cluster's outbox fill (percent) above which the primary slows admission of transfers (0: off, a full outbox answers outbox_full at once)")
	fs.DurationVar(&cfg.SinkLatency, "sink-latency", 0, "ledger-effects: delay the sink adds to every effect it receives, as a slow webhook would")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", time.Minute, "ledger-effects: how long to wait after the measured phase for the effects still pending")
	backend := fs.String("io", "", "io backend of the local replicas: io_uring, fallback or auto (default: $"+cio.EnvBackend+" or auto)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (clients and, with a local cluster, the replicas) over the measured phase to this file (go tool pprof)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the callers' key and account choices (default random)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	o.sweep.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchmarkUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, benchmarkSweepUsage)
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	jcfg, err := journal.Preset(cfg.Preset)
	if err != nil {
		return o, fmt.Errorf("--preset: %w", err)
	}
	if cfg.IOBackend, err = cio.ParseBackend(*backend); err != nil {
		return o, fmt.Errorf("--io: %w", err)
	}
	if *admission < 0 || *admission > 100 {
		return o, fmt.Errorf("--effects-admission=%d: want 0..100", *admission)
	}
	cfg.Admission = admissionPercent(*admission)
	caps := presetCapacity(jcfg)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *addresses != "" {
		cfg.Addresses = strings.Split(*addresses, ",")
		if *clusterID == "" {
			return o, errors.New("--addresses needs --cluster")
		}
		if cfg.Cluster, err = parseUint128(*clusterID); err != nil {
			return o, fmt.Errorf("--cluster: %w", err)
		}
		if set["replicas"] || set["dir"] || set["io"] || set["clients-max"] {
			return o, errors.New("--replicas, --dir, --io and --clients-max are for a local cluster, not with --addresses")
		}
	} else if *clusterID != "" {
		return o, errors.New("--cluster is for a running cluster, with --addresses")
	}
	if cfg.Batch == 0 {
		cfg.Batch = 1
		if cfg.Workload != bench.WorkloadKV {
			cfg.Batch = 64
		}
	}
	if cfg.Keys == 0 {
		cfg.Keys = caps.kvKeys
	}
	if cfg.Transfers == 0 {
		cfg.Transfers = caps.ledgerTransfers
	}
	ledgerish := cfg.Workload == bench.WorkloadLedger || cfg.Workload == bench.WorkloadLedgerEffects
	if ledgerish && !set["accounts"] {
		cfg.Accounts = min(cfg.Accounts, caps.ledgerAccounts)
	}
	if len(cfg.Addresses) == 0 {
		// The local cluster's state machines are those of `chronon start`,
		// with the preset's capacities or, when the workload asks for more,
		// that much (the cluster's grid grows to hold it; memory grows too:
		// docs/data-file.md, "Zones").
		if cfg.Workload == bench.WorkloadKV && cfg.ValueSize > kvValueSizeMax {
			return o, fmt.Errorf("--value-size=%d: the local kv store holds values of at most %d bytes", cfg.ValueSize, kvValueSizeMax)
		}
		if cfg.Workload == bench.WorkloadKV {
			caps.kvKeys = max(caps.kvKeys, cfg.Keys)
		}
		if ledgerish {
			caps.ledgerAccounts = max(caps.ledgerAccounts, cfg.Accounts)
			caps.ledgerTransfers = max(caps.ledgerTransfers, cfg.Transfers)
		}
		if err := caps.check(); err != nil {
			return o, fmt.Errorf("capacity: %w", err)
		}
		workload := cfg.Workload
		if workload == bench.WorkloadLedgerEffects {
			workload = bench.WorkloadLedger
			cfg.Outbox = outboxConfig(wire.Uint128{}, caps) // Run sets the cluster id
			cfg.NewEffectsMachine = func(effects *outbox.Emitter, target []byte) statemachine.StateMachine {
				l, err := newLedger(caps, effects, target)
				if err != nil {
					panic(fmt.Sprintf("benchmark: ledger of a checked config: %v", err))
				}
				return l
			}
		}
		cfg.NewStateMachine = func() statemachine.StateMachine {
			sm, err := newStateMachine(workload, caps, nil, "")
			if err != nil {
				panic(fmt.Sprintf("benchmark: state machine of a checked config: %v", err))
			}
			return sm
		}
	}
	if err := cfg.Check(); err != nil {
		return o, err
	}
	if err := o.sweep.resolve(cfg, set); err != nil {
		return o, err
	}
	if o.sweep.on() {
		sc := o.sweep.config(*cfg)
		if err := sc.Check(); err != nil {
			return o, err
		}
	}
	return o, nil
}

func runBenchmark(args []string, stdout, stderr io.Writer) int {
	o, err := parseBenchmarkArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		return 2
	}
	if o.sweep.on() {
		return runSweep(o, stdout, stderr)
	}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		o.cfg.Progress = stdout
	}
	// The first Ctrl-C stops the load and prints the partial result; stop()
	// then restores the default, so a second one ends the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "chronon benchmark: --cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		var profiling bool
		o.cfg.OnMeasure = func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "chronon benchmark: --cpuprofile: %v\n", err)
				return
			}
			profiling = true
		}
		o.cfg.OnMeasureEnd = func() {
			if profiling {
				pprof.StopCPUProfile()
				profiling = false
			}
		}
		defer o.cfg.OnMeasureEnd() // a run that ends before the measured phase does
	}
	res, err := bench.Run(ctx, o.cfg)
	if err != nil && res.Requests == 0 {
		fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
			return 1
		}
	} else {
		printVersion(stdout)
		res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		return 1
	}
	if res.Partial {
		return 130 // interrupted, as a shell reports SIGINT
	}
	return 0
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
