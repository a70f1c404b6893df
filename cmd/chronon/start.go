package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/internal/bus"
	"github.com/chronon-db/chronon/internal/tlsfront"
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
	replica := fs.Int("replica", -1, "this replica's index (checked against the data file before any port is bound; optional)")
	clusterFlag := fs.String("cluster", "", "the cluster id, decimal or 0x-hex (checked against the data file before any port is bound; optional)")
	machine := fs.String("state-machine", "ledger", "state machine: ledger or kv")
	backend := fs.String("io", "", "io backend: io_uring, fallback or auto (default: $"+cio.EnvBackend+" or auto)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://<host:port>/metrics (e.g. 127.0.0.1:9464; empty: off)")
	profiling := fs.Bool("pprof", false, "with --metrics, also serve the Go runtime's profiles at /debug/pprof/ (e.g. go tool pprof http://<host:port>/debug/pprof/profile?seconds=10)")
	statusInterval := fs.Duration("status-interval", 10*time.Second, "log the replica's view, op, commits and peers at this interval (0: never)")
	connectionsMax := fs.Int("connections-max", 0, "client connections this replica takes at once (default: the data file's client sessions); each costs a 4 KiB receive buffer and a socket, message buffers come from a budget shared by all clients (128 with the production preset); one more is refused with eviction too_many_connections")
	idleTimeout := fs.Duration("client-idle-timeout", time.Minute, "close a client connection without traffic for this long (the Go client reconnects on its next call); one that sends no whole message within a tenth of it is closed too")
	perAddress := fs.Int("connections-per-address", 0, "connections one source address may hold that are not authenticated replicas (clients, and connections that have not said who they are); one more replaces that address's oldest silent connection, or is refused with eviction too_many_connections (default 0: half of --connections-max; -1: no limit; loopback addresses are exempt)")
	keyFile := fs.String("cluster-key-file", "", "file of cluster keys (one per line, 64 hex digits; the first is current, the others are accepted too, for a rotation): replicas prove to each other that they hold one (HMAC-SHA-256 handshake); every replica needs one. Without it peers are not authenticated (see docs/operations.md)")
	tlsAddress := fs.String("client-tls-address", "", "also serve clients with TLS on this host:port (needs --client-tls-cert and --client-tls-key); the plaintext port stays as it is, for peers and plaintext clients")
	tlsCert := fs.String("client-tls-cert", "", "PEM certificate (chain) of the TLS client port")
	tlsKey := fs.String("client-tls-key", "", "PEM private key of the TLS client port")
	redirects := fs.Int("redirects-per-tick", 16, "redirects a backup sends per 10 ms tick, at most, to clients that sent it a request of an older view (docs/protocol.md, \"Redirect\"); the rest are dropped and counted")
	effectsURL := fs.String("effects-url", "", "ledger only: POST every created transfer to this URL exactly once (outbox effect with an Idempotency-Key); the same as --effects-sink with an http(s) URL")
	effectsSink := fs.String("effects-sink", "", "ledger only: where every created transfer goes exactly once, as an outbox effect: an http(s):// URL (webhook). The PostgreSQL and other sinks are Go modules of their own, wired through the Go API (docs/outbox.md)")
	effectsBatch := fs.Int("effects-batch", 1, "with --effects-sink: effects per HTTP request; above 1 the webhook must accept the batch form (docs/outbox.md, \"HTTP batch form\")")
	effectsWorkers := fs.Int("effects-workers", 0, "with --effects-sink: concurrent requests to the sink (default 64, or 8 with --effects-batch above 1)")
	effectsAdmission := fs.Int("effects-admission", 50, "ledger with an outbox: above this fill of the outbox (percent, 1..100), the primary slows admission of transfers that emit effects, holding them in its queue until acknowledged effects free room (clients see latency, not outbox_full); 0 turns it off (docs/outbox.md, \"Admission\")")
	cacheSize := fs.String("cache-size", "64MiB", "memory for the block cache through which the ledger reads back the transfers it keeps only in the grid (the ones the durable checkpoint holds); suffixes KiB, MiB, GiB")
	stateInMemory := fs.Bool("state-in-memory", false, "keep the ledger's whole state in memory instead of dropping the transfers the durable checkpoint holds")
	effectsAdmissionWait := fs.Duration("effects-admission-wait", 5*time.Second, "with --effects-admission: the longest a request is held back; then it is prepared anyway and transfers that find the outbox full are answered outbox_full")
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
	cacheBytes, err := parseSize(*cacheSize)
	if err != nil || cacheBytes <= 0 {
		fmt.Fprintf(stderr, "chronon start: --cache-size %q: want a positive size such as 256MiB\n", *cacheSize)
		return 2
	}
	if *effectsAdmission < 0 || *effectsAdmission > 100 || *effectsAdmissionWait <= 0 {
		fmt.Fprintln(stderr, "chronon start: --effects-admission must be within 0..100 and --effects-admission-wait positive")
		return 2
	}
	if *effectsBatch < 1 || *effectsWorkers < 0 {
		fmt.Fprintln(stderr, "chronon start: --effects-batch must be at least 1 and --effects-workers not negative")
		return 2
	}
	if (*tlsAddress != "" || *tlsCert != "" || *tlsKey != "") && (*tlsAddress == "" || *tlsCert == "" || *tlsKey == "") {
		fmt.Fprintln(stderr, "chronon start: --client-tls-address, --client-tls-cert and --client-tls-key go together")
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
	// The data file fixes the state machine's capacity (chronon format).
	sb, err := dataFileSuperblock(fs.Arg(0))
	for waited := time.Duration(0); errors.Is(err, journal.ErrLocked) && waited < lockWait; waited += lockRetry {
		if waited == 0 {
			fmt.Fprintf(stderr, "chronon start: %s is locked: waiting up to %s for it (a replica killed a moment ago holds it until the kernel has torn its I/O down; a running one holds it for good)\n", fs.Arg(0), lockWait)
		}
		time.Sleep(lockRetry)
		sb, err = dataFileSuperblock(fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
	}
	// Identity first: a data file of another replica or cluster is refused
	// before any port is bound or any byte written.
	if err := checkIdentity(sb, *replica, *clusterFlag, len(strings.Split(*addresses, ","))); err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 2
	}
	caps, err := capacityOf(sb)
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %s: %v\n", fs.Arg(0), err)
		return 1
	}
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
	var keys [][32]byte
	if *keyFile != "" {
		if keys, err = readClusterKeys(*keyFile, stderr); err != nil {
			fmt.Fprintf(stderr, "chronon start: --cluster-key-file: %v\n", err)
			return 2
		}
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

		EffectsAdmission:     admissionPercent(*effectsAdmission),
		EffectsAdmissionWait: *effectsAdmissionWait,

		CacheSize:     cacheBytes,
		StateInMemory: *stateInMemory,

		StatusLogInterval: *statusInterval,
		ConnectionsMax:    *connectionsMax,
		ClientIdleTimeout: *idleTimeout,
		RedirectsPerTick:  *redirects,

		ConnectionsPerAddress: *perAddress,
		ClusterKeys:           keys,
	})
	if err != nil {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
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
	if *tlsAddress != "" {
		front, err := startTLSFront(n, strings.Split(*addresses, ","), *tlsAddress, *tlsCert, *tlsKey, sb.Config.ClientsMax, *connectionsMax, *perAddress, *idleTimeout/10, logger)
		if err != nil {
			n.Close()
			fmt.Fprintf(stderr, "chronon start: --client-tls-address: %v\n", err)
			return 1
		}
		defer front.Close()
		fmt.Fprintf(stdout, "replica %d serving TLS clients on %s\n", n.Replica().Index(), front.Addr())
	}
	if err := n.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "chronon start: %v\n", err)
		return 1
	}
	return 0
}

// startTLSFront serves TLS clients on address in front of replica n's
// plaintext port (reached on its own host, loopback when it listens on all
// addresses), with the replica's connection limits.
func startTLSFront(n *node.Node, addresses []string, address, certFile, keyFile string, clientsMax uint32, connectionsMax, perAddress int, handshake time.Duration, logger *slog.Logger) (*tlsfront.Front, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	own := addresses[n.Replica().Index()]
	host := own[:max(strings.LastIndex(own, ":"), 0)]
	switch host {
	case "", "0.0.0.0", "[::]":
		host = "127.0.0.1"
	}
	if connectionsMax == 0 {
		connectionsMax = int(clientsMax)
	}
	switch {
	case perAddress == 0:
		perAddress = max(connectionsMax/2, 1)
	case perAddress < 0:
		perAddress = 0
	}
	return tlsfront.Start(tlsfront.Config{
		Listen:                address,
		Backend:               host + ":" + strconv.Itoa(n.Port()),
		TLS:                   &tls.Config{Certificates: []tls.Certificate{cert}},
		ConnectionsMax:        connectionsMax,
		ConnectionsPerAddress: perAddress,
		HandshakeTimeout:      handshake,
		Logger:                logger,
	})
}

// readClusterKeys reads a cluster key file (bus.ParseClusterKeys). Errors
// and warnings name the file and line, never a key.
func readClusterKeys(path string, stderr io.Writer) ([][32]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "chronon start: warning: cluster key file %s is readable by others (mode %v); chmod 600 it\n", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	parsed, err := bus.ParseClusterKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	keys := make([][32]byte, len(parsed))
	for i := range parsed {
		keys[i] = parsed[i]
	}
	return keys, nil
}

// capacity is what the state machines started by the CLI and the demo
// hold. chronon format chooses it (its preset's by default) and stores it
// in the superblock (journal.Superblock.Params, in the order of params),
// sizing the grid for two checkpoints of the fullest state
// (journal.Config.CheckGrid, checked by node.Start); at capacity the state
// machine answers result full.
type capacity struct {
	ledgerAccounts, ledgerTransfers int
	kvKeys                          int
	outboxEffects                   int
}

// capacityLimit bounds every capacity (ledger slot indexes are u32s).
const capacityLimit = 1 << 31

// params encodes c for the superblock.
func (c capacity) params() [journal.ParamsCount]uint64 {
	return [journal.ParamsCount]uint64{uint64(c.ledgerAccounts), uint64(c.ledgerTransfers), uint64(c.kvKeys), uint64(c.outboxEffects)}
}

// check returns an error naming the first capacity out of range.
func (c capacity) check() error {
	for i, v := range [...]int{c.ledgerAccounts, c.ledgerTransfers, c.kvKeys, c.outboxEffects} {
		if v < 1 || v > capacityLimit {
			return fmt.Errorf("%s %d not in [1, %d]", capacityNames[i], v, capacityLimit)
		}
	}
	if c.outboxEffects > outbox.EffectsLimit {
		return fmt.Errorf("%s %d above %d", capacityNames[3], c.outboxEffects, outbox.EffectsLimit)
	}
	return nil
}

// capacityNames name the capacities, in the order of params, as chronon
// format's flags and chronon inspect do.
var capacityNames = [journal.ParamsCount]string{"accounts-max", "transfers-max", "kv-keys-max", "effects-max"}

// capacityOf returns the capacities a data file was formatted with: its
// superblock's params, or, when they are all zero (a file formatted
// through the Go API, node.FormatDataFile), its preset's (node.Start
// refuses a file whose grid cannot hold them).
func capacityOf(sb journal.Superblock) (capacity, error) {
	if sb.Params == [journal.ParamsCount]uint64{} {
		return presetCapacity(sb.Config), nil
	}
	return capacityFromParams(sb.Params)
}

// capacityFromParams decodes the capacities chronon format stored.
func capacityFromParams(p [journal.ParamsCount]uint64) (capacity, error) {
	for i, v := range p {
		if v < 1 || v > capacityLimit {
			return capacity{}, fmt.Errorf("data file capacity %s = %d not in [1, %d] (format it again)", capacityNames[i], v, capacityLimit)
		}
	}
	c := capacity{ledgerAccounts: int(p[0]), ledgerTransfers: int(p[1]), kvKeys: int(p[2]), outboxEffects: int(p[3])}
	if err := c.check(); err != nil {
		return capacity{}, fmt.Errorf("data file capacity: %w (format it again)", err)
	}
	return c, nil
}

// stateSizeMax returns the largest state a replica started on a data file
// of capacity c holds: the snapshot bound of the fullest state machine
// chronon start runs (the ledger with its outbox, or kv), computed without
// building them.
func (c capacity) stateSizeMax(cluster wire.Uint128) (uint64, error) {
	store, err := kv.SnapshotSizeMax(kv.Config{KeysMax: c.kvKeys, ValueSizeMax: kvValueSizeMax, HashSeed: kvHashSeed})
	if err != nil {
		return 0, err
	}
	tbl, err := outbox.TableSnapshotSizeMax(outboxConfig(cluster, c))
	if err != nil {
		return 0, err
	}
	withEffects := outbox.MachineSnapshotSizeMax(ledger.SnapshotSizeMax(c.ledgerAccounts, c.ledgerTransfers), tbl)
	return uint64(max(store, withEffects)), nil
}

// kvValueSizeMax is the largest value of the CLI's KV store, and
// kvHashSeed its index's seed.
const (
	kvValueSizeMax = 256
	kvHashSeed     = 0x43485230
)

var (
	capacityProduction = capacity{ledgerAccounts: 100_000, ledgerTransfers: 2_000_000, kvKeys: 100_000, outboxEffects: 16384}
	capacityTest       = capacity{ledgerAccounts: 1024, ledgerTransfers: 8192, kvKeys: 1024, outboxEffects: 1024}
)

// presetCapacity returns the default capacity for a configuration: the
// test preset's for the test preset's message size (whatever its client
// sessions), the production preset's for any other.
func presetCapacity(c journal.Config) capacity {
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
		return fmt.Errorf("this binary stays free of database drivers: run chronon-pg-bridge --postgres=%s (the Go module github.com/chronon-db/chronon/sinks/postgres) and give its address here, --effects-sink=http://<bridge>/effects --effects-batch=64; or embed the sink through the Go API (node.Config.Sink); see docs/outbox.md", u.Redacted())
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
		return kv.New(kv.Config{KeysMax: caps.kvKeys, ValueSizeMax: kvValueSizeMax, HashSeed: kvHashSeed})
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

// lockWait bounds how long start waits for a locked data file, trying
// again every lockRetry: a replica restarted right after a kill -9 can
// find the file still locked for a moment (the kernel releases the
// killed process's io_uring, and the files it holds, after the process
// is gone).
const (
	lockWait  = 10 * time.Second
	lockRetry = 100 * time.Millisecond
)

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

// errIdentity means the data file is not the replica the flags name.
var errIdentity = errors.New("identity mismatch")

// checkIdentity compares the data file's identity with the flags: the
// replica index (replica < 0: not given), the cluster id (cluster empty:
// not given) and the replica count (the number of addresses). The error
// names both sides.
func checkIdentity(sb journal.Superblock, replica int, cluster string, addresses int) error {
	file := fmt.Sprintf("data file is replica %d of cluster %s (%d replicas)", sb.Replica, formatUint128(sb.Cluster), sb.ReplicaCount)
	if cluster != "" {
		id, err := parseUint128(cluster)
		if err != nil {
			return fmt.Errorf("--cluster: %w", err)
		}
		if id != sb.Cluster {
			return fmt.Errorf("%w: %s, flags say cluster %s", errIdentity, file, formatUint128(id))
		}
	}
	if replica >= 0 && replica != int(sb.Replica) {
		return fmt.Errorf("%w: %s, flags say replica %d", errIdentity, file, replica)
	}
	if addresses != int(sb.ReplicaCount) {
		return fmt.Errorf("%w: %s, --addresses lists %d replicas", errIdentity, file, addresses)
	}
	return nil
}

// admissionPercent maps the --effects-admission flag (0: off) to
// node.Config.EffectsAdmission (negative: off).
func admissionPercent(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
}
