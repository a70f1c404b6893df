// Command peers measures Chronon and etcd side by side on this machine: a
// 3-member etcd cluster and 3 Chronon replicas (kv state machine,
// production preset), each as processes on loopback, driven by the same
// closed-loop kv put workload (bench.Measure) in alternation, and prints a
// table per client count with the ratios Chronon/etcd.
//
// Run it from this directory: `go run . [flags]` (see --help). It is not
// part of the repository's `go test ./...` nor of CI: it needs etcd
// (Debian's etcd-server, installed with apt when missing and run as root)
// and takes minutes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/bench"
	"github.com/chronon-db/chronon/journal"
)

const usage = `usage: go run . [flags]   (in bench/peers)

Starts a 3-member etcd cluster and 3 Chronon replicas (chronon start
--state-machine=kv, production preset) as processes on loopback, then for
each client count runs the same kv put workload (one put of a --key-size
key and --value-size value in flight per client, keys uniformly random over
--keys) against etcd and Chronon, alternating, --rounds times, each with the
same --warmup and --duration. Prints a markdown table per client count
(puts/s, p50, p99, p99.9, max, and the ratios Chronon/etcd) and, with --out,
writes peers.json, peers.csv, peers.md and peers.svg there. Every process it starts it
stops by PID at the end, on Ctrl-C and on errors.

etcd is /usr/bin/etcd (Debian's etcd-server); when it is missing and this
runs as root, it is installed with apt-get (etcd-server etcd-client).

flags:`

// options are the parsed flags.
type options struct {
	clients    []int
	clientsMax int      // Chronon's data files' client sessions
	etcdConns  []string // "each", "sqrt" or a number of shared connections
	rounds     int
	warmup     time.Duration
	duration   time.Duration
	keySize    int
	valueSize  int
	keys       int
	seed       uint64
	etcdBin    string
	chrononBin string
	repo       string
	out        string
	json       bool
	keep       bool
	install    bool
	verbose    bool
}

// kvKeysMax is the kv capacity of a Chronon replica formatted with the
// production preset (cmd/chronon's capacityProduction).
const kvKeysMax = 100_000

// kvValueSizeMax is the largest value `chronon start --state-machine=kv`
// holds.
const kvValueSizeMax = 256

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.String("clients", "1,64,256", "client counts, comma-separated: one put in flight per client")
	conns := fs.String("etcd-conns", "each,sqrt", "etcd connections per client count, comma-separated, each measured: each (a connection per client), sqrt (√clients shared connections: 8 for 64, 16 for 256) or a number of shared connections")
	fs.IntVar(&o.clientsMax, "chronon-clients-max", 0, "client sessions Chronon's data files are formatted for (chronon format --clients-max; default: the largest --clients count, at least the production preset's 64)")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds: each runs every system once per client count, alternating")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each measured phase, not measured")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "each measured phase")
	fs.IntVar(&o.keySize, "key-size", 16, "key size in bytes (8 to 64)")
	fs.IntVar(&o.valueSize, "value-size", 64, fmt.Sprintf("value size in bytes (at most %d, Chronon's kv limit)", kvValueSizeMax))
	fs.IntVar(&o.keys, "keys", kvKeysMax, fmt.Sprintf("distinct keys, chosen uniformly (at most %d, Chronon's production kv capacity)", kvKeysMax))
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the key choices (default random)")
	fs.StringVar(&o.etcdBin, "etcd", "/usr/bin/etcd", "the etcd server binary")
	fs.StringVar(&o.chrononBin, "chronon", "", "a chronon binary (default: go build the repository's cmd/chronon into the temporary directory)")
	fs.StringVar(&o.repo, "repo", "../..", "the Chronon repository (to build cmd/chronon)")
	fs.StringVar(&o.out, "out", "", "directory to write peers.json, peers.csv, peers.md and peers.svg into (created if missing)")
	fs.BoolVar(&o.json, "json", false, "print the results as one JSON object instead of markdown tables")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data files, logs) and print its path")
	fs.BoolVar(&o.install, "install", true, "install etcd-server and etcd-client with apt-get when --etcd is missing and this runs as root")
	fs.BoolVar(&o.verbose, "v", false, "log each step and each run's progress to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.clients, err = bench.ParseCounts(*clients); err != nil {
		return o, fmt.Errorf("--clients: %w", err)
	}
	for _, c := range o.clients {
		if c < 1 || c > journal.ClientsLimit {
			return o, fmt.Errorf("--clients: %d: want 1 to %d", c, journal.ClientsLimit)
		}
	}
	if o.clientsMax == 0 {
		o.clientsMax = max(64, slices.Max(o.clients))
	}
	if o.clientsMax < 1 || o.clientsMax > journal.ClientsLimit {
		return o, fmt.Errorf("--chronon-clients-max=%d: want 1 to %d", o.clientsMax, journal.ClientsLimit)
	}
	for _, c := range strings.Split(*conns, ",") {
		c = strings.TrimSpace(c)
		if c != "each" && c != "sqrt" {
			if n, err := strconv.Atoi(c); err != nil || n < 1 {
				return o, fmt.Errorf("--etcd-conns: %q: want each, sqrt or a number of connections", c)
			}
		}
		o.etcdConns = append(o.etcdConns, c)
	}
	switch {
	case o.rounds < 1:
		return o, fmt.Errorf("--rounds=%d: want at least 1", o.rounds)
	case o.warmup < 0 || o.duration <= 0:
		return o, fmt.Errorf("--warmup=%v, --duration=%v: want warmup >= 0 and duration > 0", o.warmup, o.duration)
	case o.keySize < 8 || o.keySize > 64:
		return o, fmt.Errorf("--key-size=%d: want 8 to 64 bytes", o.keySize)
	case o.valueSize < 0 || o.valueSize > kvValueSizeMax:
		return o, fmt.Errorf("--value-size=%d: want 0 to %d bytes", o.valueSize, kvValueSizeMax)
	case o.keys < 1 || o.keys > kvKeysMax:
		return o, fmt.Errorf("--keys=%d: want 1 to %d", o.keys, kvKeysMax)
	}
	return o, nil
}

// connections returns the etcd connections of mode ("each", "sqrt" or a
// number) for a client count: at least 1, at most clients.
func connections(mode string, clients int) int {
	n := clients
	switch mode {
	case "each":
	case "sqrt":
		n = int(math.Round(math.Sqrt(float64(clients))))
	default:
		n, _ = strconv.Atoi(mode) // checked by parseArgs
	}
	return min(max(n, 1), clients)
}

// etcdVariants returns the distinct etcd connection counts to measure at a
// client count, in the order of modes.
func etcdVariants(modes []string, clients int) []int {
	var out []int
	seen := map[int]bool{}
	for _, m := range modes {
		n := connections(m, clients)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func main() {
	o, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "peers: %v\n", err)
		os.Exit(2)
	}
	// The first Ctrl-C (or SIGTERM) stops the run: the measurement in
	// progress ends, every process started is stopped and the temporary
	// directory removed; stop() then restores the default, so a second one
	// ends this process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, o, os.Stdout, os.Stderr))
}
