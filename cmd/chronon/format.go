package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/node"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "format", summary: "create a replica's data file", run: runFormat})
}

const formatUsage = "usage: chronon format --cluster=<id> --replica=<i> --replica-count=<n> [--preset=production|test] [--clients-max=<n>] [--accounts-max=<n>] [--transfers-max=<n>] [--kv-keys-max=<n>] [--effects-max=<n>] [--rejoin] <path>"

// parseFlags parses fs from args, allowing flags after positional
// arguments, and returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runFormat(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("format", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, formatUsage)
		fs.PrintDefaults()
	}
	cluster := fs.String("cluster", "", "cluster id: a u128 in decimal or 0x-hex (required)")
	replica := fs.Int("replica", -1, "this replica's index, 0-based (required)")
	replicaCount := fs.Int("replica-count", 0, "number of replicas in the cluster (required)")
	preset := fs.String("preset", "production", "configuration preset: production or test")
	clientsMax := fs.Int("clients-max", 0, "client sessions the cluster holds, and by default client connections each replica takes (chronon start --connections-max) (default: the preset's, production 1024, test 16; at most "+fmt.Sprint(journal.ClientsLimit)+"). "+
		"Each session costs a replica about 12 KiB of memory (a 4 KiB reply slot, up to 4 KiB in the checkpoint kept for state sync, a 4 KiB connection buffer, and its table entry) and 8 KiB of data file (its entry in two checkpoints); "+
		"replies above 4 KiB are kept for at most 64 sessions (64 MiB, whatever the session count; a retry of an older one gets eviction reply_dropped) and request buffers come from a budget of 128 shared by all clients. "+
		"Every replica of a cluster must be formatted with the same value")
	var caps capacity
	fs.IntVar(&caps.ledgerAccounts, "accounts-max", 0, "ledger accounts the state holds (default: the preset's, production 100000, test 1024). Each costs a replica about 200 bytes of memory and 256 bytes of data file")
	fs.IntVar(&caps.ledgerTransfers, "transfers-max", 0, "ledger transfers the state holds (default: the preset's, production 2000000, test 8192). Each costs a replica about 35 bytes of memory (its index entry, 16-32 bytes whether used or not, and its history entries; the 128-byte record is read back from the data file once a checkpoint holds it, chronon start --cache-size; about 300 bytes with --state-in-memory) and 256 bytes of data file (its record in two checkpoints); at capacity a transfer is refused with result full")
	fs.IntVar(&caps.kvKeys, "kv-keys-max", 0, "kv keys the state holds (default: the preset's, production 100000, test 1024); each costs about 700 bytes of memory and 600 bytes of data file")
	fs.IntVar(&caps.outboxEffects, "effects-max", 0, "open effects the ledger's outbox holds with chronon start --effects-url (default: the preset's, production 16384, test 1024)")
	rejoin := fs.Bool("rejoin", false, "format a replacement for a replica whose data file was lost while the cluster runs: it stays out of view-change votes until it has caught up (docs/replica.md)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || *cluster == "" || *replica < 0 || *replicaCount <= 0 {
		fmt.Fprintln(stderr, formatUsage)
		return 2
	}
	id, err := parseUint128(*cluster)
	if err != nil {
		fmt.Fprintf(stderr, "chronon format: --cluster: %v\n", err)
		return 2
	}
	cfg, err := journal.Preset(*preset)
	if err != nil {
		fmt.Fprintf(stderr, "chronon format: %v\n", err)
		return 2
	}
	if *replica > 255 || *replicaCount > 255 {
		fmt.Fprintf(stderr, "chronon format: replica %d of %d out of range\n", *replica, *replicaCount)
		return 2
	}
	if *clientsMax != 0 {
		if *clientsMax < 0 || *clientsMax > math.MaxUint32 {
			fmt.Fprintf(stderr, "chronon format: --clients-max=%d out of range\n", *clientsMax)
			return 2
		}
		if cfg, err = node.WithClientsMax(cfg, *replicaCount, uint32(*clientsMax)); err != nil {
			fmt.Fprintf(stderr, "chronon format: --clients-max: %v\n", err)
			return 2
		}
	}
	def := presetCapacity(cfg)
	for _, c := range []struct {
		v *int
		d int
	}{{&caps.ledgerAccounts, def.ledgerAccounts}, {&caps.ledgerTransfers, def.ledgerTransfers}, {&caps.kvKeys, def.kvKeys}, {&caps.outboxEffects, def.outboxEffects}} {
		if *c.v == 0 {
			*c.v = c.d
		}
	}
	if err := caps.check(); err != nil {
		fmt.Fprintf(stderr, "chronon format: --%v\n", err)
		return 2
	}
	stateMax, err := caps.stateSizeMax(id)
	if err != nil {
		fmt.Fprintf(stderr, "chronon format: capacity: %v\n", err)
		return 2
	}
	if cfg, err = node.WithStateSizeMax(cfg, *replicaCount, stateMax); err != nil {
		fmt.Fprintf(stderr, "chronon format: capacity: %v\n", err)
		return 2
	}
	opts := journal.FormatOptions{Config: cfg, Cluster: id, Replica: uint8(*replica), ReplicaCount: uint8(*replicaCount), Rejoin: *rejoin, Params: caps.params()}
	if err := opts.Check(); err != nil {
		fmt.Fprintf(stderr, "chronon format: %v\n", err)
		return 2
	}
	path := pos[0]
	if err := node.FormatDataFile(path, opts); err != nil {
		fmt.Fprintf(stderr, "chronon format: %v\n", err)
		return 1
	}
	layout, _ := journal.NewLayout(cfg)
	fmt.Fprintf(stdout, "formatted %s: cluster %s, replica %d of %d, preset %s, %d client sessions, %d bytes\n",
		path, formatUint128(id), opts.Replica, opts.ReplicaCount, *preset, cfg.ClientsMax, layout.Size)
	fmt.Fprintf(stdout, "capacity: %d accounts, %d transfers, %d kv keys, %d effects\n", caps.ledgerAccounts, caps.ledgerTransfers, caps.kvKeys, caps.outboxEffects)
	if *rejoin {
		fmt.Fprintln(stdout, "marked rejoining: this replica will not vote in a view change until it has caught up with its cluster")
	}
	return 0
}

var errUint128 = errors.New("not a u128 (decimal or 0x-hex)")

// parseUint128 parses a decimal or 0x-prefixed hexadecimal u128.
func parseUint128(s string) (wire.Uint128, error) {
	n := new(big.Int)
	ok := false
	if h, found := strings.CutPrefix(strings.ToLower(s), "0x"); found {
		if h != "" && !strings.HasPrefix(h, "+") && !strings.HasPrefix(h, "-") {
			_, ok = n.SetString(h, 16)
		}
	} else if s != "" && s[0] >= '0' && s[0] <= '9' {
		_, ok = n.SetString(s, 10)
	}
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return wire.Uint128{}, fmt.Errorf("%q: %w", s, errUint128)
	}
	lo := new(big.Int).And(n, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(n, 64).Uint64()
	return wire.Uint128{Lo: lo, Hi: hi}, nil
}

// formatUint128 prints u as 0x-hex without leading zeros.
func formatUint128(u wire.Uint128) string {
	if u.Hi == 0 {
		return fmt.Sprintf("%#x", u.Lo)
	}
	return fmt.Sprintf("0x%x%016x", u.Hi, u.Lo)
}
