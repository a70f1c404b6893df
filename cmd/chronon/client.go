package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "client", summary: "talk to a running cluster (outbox effects, ledger lookups, account history)", run: runClient})
}

const clientUsage = `usage: chronon client --addresses=a:p,b:p,c:p --cluster=<id> <command> [flags]

commands:
  effects [--state=open|failed] [--limit=N]
      list the outbox: its counters, then the open (pending or retrying)
      effects or the kept permanently failed ones, oldest op first
  accounts <id>...     look up ledger accounts (ids decimal or 0x-hex)
  transfers <id>...    look up ledger transfers
  history <account-id> [--limit=N] [--from=T] [--to=T] [--reverse] [--debits] [--credits]
      list an account's transfers (both sides unless --debits or --credits),
      oldest first, timestamps T in nanoseconds or RFC 3339; for an account
      created with the history flag, its posted balances after each`

func runClient(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addresses := fs.String("addresses", "", "every replica's host:port, comma-separated, in replica order (required)")
	clusterFlag := fs.String("cluster", "", "the cluster id, decimal or 0x-hex (required)")
	sizeMax := fs.Uint("message-size-max", uint(wire.MessageSizeMaxProduction), "the cluster's message size limit")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, clientUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 || *addresses == "" || *clusterFlag == "" {
		fs.Usage()
		return 2
	}
	cluster, err := parseUint128(*clusterFlag)
	if err != nil {
		fmt.Fprintf(stderr, "chronon client: --cluster: %v\n", err)
		return 2
	}
	var sub func(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer) int
	switch fs.Arg(0) {
	case "effects":
		sub = clientEffects
	case "accounts":
		sub = clientAccounts
	case "transfers":
		sub = clientTransfers
	case "history":
		sub = clientHistory
	default:
		fmt.Fprintf(stderr, "chronon client: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{
		Cluster: cluster, Addresses: strings.Split(*addresses, ","), MessageSizeMax: uint32(*sizeMax),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Fprintf(stderr, "chronon client: %v\n", err)
		return 1
	}
	defer cl.Close()
	return sub(ctx, cl, fs.Args()[1:], stdout, stderr)
}

// clientEffects lists the outbox's counters and effects.
func clientEffects(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client effects", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", "open", "which effects: open (pending or retrying) or failed (kept permanent failures)")
	limit := fs.Int("limit", 1000, "list at most this many effects (0: all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var filter outbox.QueryFilter
	switch *state {
	case "open":
		filter = outbox.QueryOpen
	case "failed":
		filter = outbox.QueryFailed
	default:
		fmt.Fprintf(stderr, "chronon client effects: --state=%q: want open or failed\n", *state)
		return 2
	}
	var effects []outbox.Effect
	var stats outbox.Stats
	q := outbox.Query{Filter: filter}
	for {
		r, err := cl.OutboxEffects(ctx, q)
		if errors.Is(err, client.ErrNoOutbox) {
			fmt.Fprintln(stderr, "chronon client effects: this cluster runs without an outbox (start the replicas with --effects-url)")
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "chronon client effects: %v\n", err)
			return 1
		}
		stats = r.Stats
		effects = append(effects, r.Effects...)
		if !r.More || len(r.Effects) == 0 || (*limit > 0 && len(effects) >= *limit) {
			break
		}
		last := r.Effects[len(r.Effects)-1]
		q.AfterOp, q.AfterIndex = last.Op, last.Index
	}
	truncated := *limit > 0 && len(effects) > *limit
	if truncated {
		effects = effects[:*limit]
	}
	fmt.Fprintf(stdout, "outbox: emitted %d, done %d, failed %d (%d kept), open %d\n",
		stats.Emitted, stats.Done, stats.Failed, stats.Kept, stats.Open)
	if len(effects) == 0 {
		fmt.Fprintf(stdout, "no %s effects\n", *state)
		return 0
	}
	if filter == outbox.QueryOpen {
		// Listed by op from the first: the oldest open effect is among
		// them whatever --limit, its age the outbox's lag.
		oldest, retrying := effects[0].Created, 0
		for _, e := range effects {
			oldest = min(oldest, e.Created)
			if e.State == outbox.StateRetry {
				retrying++
			}
		}
		age := "-"
		if oldest != 0 && oldest < 1<<62 {
			age = time.Since(time.Unix(0, int64(oldest))).Round(time.Millisecond).String()
		}
		fmt.Fprintf(stdout, "lag: oldest open effect created %s (%s ago); %d of the %d listed retrying\n",
			commitTime(oldest), age, retrying, len(effects))
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tOP\tINDEX\tKIND\tSTATE\tATTEMPTS\tVIEW\tREASON\tCREATED\tNEXT ATTEMPT\tTARGET\tPAYLOAD\tRESULT")
	for _, e := range effects {
		reason, next := "-", commitTime(e.NextAttempt)
		if e.State == outbox.StateFailed {
			reason, next = e.Reason.String(), "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d B\t%s\n",
			e.Key(), e.Op, e.Index, e.Kind, e.State, e.Attempts, e.View, reason,
			commitTime(e.Created), next, printable(e.Target, 48), len(e.Payload), printable(e.Result, 32))
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	if truncated {
		fmt.Fprintf(stdout, "(first %d shown; raise --limit for more)\n", *limit)
	}
	return 0
}

// commitTime prints a commit timestamp (ns since the Unix epoch).
func commitTime(ns uint64) string {
	if ns == 0 || ns > 1<<62 {
		return strconv.FormatUint(ns, 10)
	}
	return time.Unix(0, int64(ns)).UTC().Format("2006-01-02T15:04:05.000Z")
}

// printable quotes b, cut to n bytes; "-" when empty.
func printable(b []byte, n int) string {
	if len(b) == 0 {
		return "-"
	}
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}
