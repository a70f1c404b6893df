package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// parseIDs parses ledger ids given on the command line.
func parseIDs(args []string, stderr io.Writer, what string) ([]wire.Uint128, bool) {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "chronon client %s: give at least one id\n", what)
		return nil, false
	}
	ids := make([]wire.Uint128, 0, len(args))
	for _, a := range args {
		id, err := parseUint128(a)
		if err != nil {
			fmt.Fprintf(stderr, "chronon client %s: %v\n", what, err)
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// decimal prints a u128 in decimal (amounts and balances).
func decimal(u wire.Uint128) string {
	if u.Hi == 0 {
		return fmt.Sprint(u.Lo)
	}
	n := new(big.Int).SetUint64(u.Hi)
	n.Lsh(n, 64)
	return n.Or(n, new(big.Int).SetUint64(u.Lo)).String()
}

// clientAccounts prints the accounts found; ids not found are listed after.
func clientAccounts(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer) int {
	ids, ok := parseIDs(args, stderr, "accounts")
	if !ok {
		return 2
	}
	got, err := cl.LookupAccounts(ctx, ids)
	if err != nil {
		fmt.Fprintf(stderr, "chronon client accounts: %v\n", err)
		return 1
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tLEDGER\tCODE\tDEBITS POSTED\tCREDITS POSTED\tDEBITS PENDING\tCREDITS PENDING\tFLAGS")
	found := map[wire.Uint128]bool{}
	for _, a := range got {
		found[a.ID] = true
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%#x\n", decimal(a.ID), a.Ledger, a.Code,
			decimal(a.DebitsPosted), decimal(a.CreditsPosted), decimal(a.DebitsPending), decimal(a.CreditsPending), a.Flags)
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return reportMissing(ids, found, stdout, "account")
}

// clientTransfers prints the transfers found; ids not found are listed after.
func clientTransfers(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer) int {
	ids, ok := parseIDs(args, stderr, "transfers")
	if !ok {
		return 2
	}
	got, err := cl.LookupTransfers(ctx, ids)
	if err != nil {
		fmt.Fprintf(stderr, "chronon client transfers: %v\n", err)
		return 1
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tDEBIT ACCOUNT\tCREDIT ACCOUNT\tAMOUNT\tLEDGER\tCODE\tCOMMITTED")
	found := map[wire.Uint128]bool{}
	for _, t := range got {
		found[t.ID] = true
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", decimal(t.ID), decimal(t.DebitAccountID), decimal(t.CreditAccountID),
			decimal(t.Amount), t.Ledger, t.Code, commitTime(t.Timestamp))
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return reportMissing(ids, found, stdout, "transfer")
}

// reportMissing lists the ids not found and returns the exit code: 0 when
// all were found, 1 otherwise (like grep).
func reportMissing(ids []wire.Uint128, found map[wire.Uint128]bool, stdout io.Writer, what string) int {
	code := 0
	for _, id := range ids {
		if !found[id] {
			fmt.Fprintf(stdout, "%s %s: not found\n", what, decimal(id))
			code = 1
		}
	}
	return code
}

// clientHistory prints an account's transfers, oldest first (or newest
// first with --reverse), and for an account created with the history flag
// its balances after each of them.
func clientHistory(ctx context.Context, cl *client.Client, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 100, "list at most this many transfers (0: all)")
	from := fs.String("from", "", "only transfers at or after this timestamp (nanoseconds, or RFC 3339)")
	to := fs.String("to", "", "only transfers at or before this timestamp (nanoseconds, or RFC 3339)")
	reverse := fs.Bool("reverse", false, "newest first")
	debits := fs.Bool("debits", false, "only transfers that debit the account (with --credits: both, the default)")
	credits := fs.Bool("credits", false, "only transfers that credit the account")
	// The account id may come before or after the flags.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 || *limit < 0 {
		fmt.Fprintln(stderr, "chronon client history: give one account id (and --limit ≥ 0)")
		return 2
	}
	accountID, err := parseUint128(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "chronon client history: %v\n", err)
		return 2
	}
	f := ledger.AccountFilter{AccountID: accountID}
	for _, b := range []struct {
		s   string
		dst *uint64
	}{{*from, &f.TimestampMin}, {*to, &f.TimestampMax}} {
		if *b.dst, err = parseTimestamp(b.s); err != nil {
			fmt.Fprintf(stderr, "chronon client history: %v\n", err)
			return 2
		}
	}
	if *debits {
		f.Flags |= ledger.FilterDebits
	}
	if *credits {
		f.Flags |= ledger.FilterCredits
	}
	if f.Flags == 0 {
		f.Flags = ledger.FilterDebits | ledger.FilterCredits
	}
	if *reverse {
		f.Flags |= ledger.FilterReversed
	}
	accounts, err := cl.LookupAccounts(ctx, []wire.Uint128{accountID})
	if err != nil {
		fmt.Fprintf(stderr, "chronon client history: %v\n", err)
		return 1
	}
	if len(accounts) == 0 {
		fmt.Fprintf(stdout, "account %s: not found\n", decimal(accountID))
		return 1
	}
	history := accounts[0].Flags&ledger.AccountHistory != 0

	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	header := "TIMESTAMP\tCOMMITTED\tTRANSFER\tDEBIT ACCOUNT\tCREDIT ACCOUNT\tAMOUNT\tCODE"
	if history {
		header += "\tDEBITS POSTED\tCREDITS POSTED"
	}
	fmt.Fprintln(w, header)
	listed, more := 0, false
	for *limit == 0 || listed < *limit {
		page := f
		if *limit > 0 {
			page.Limit = uint32(*limit - listed)
		}
		var ts []ledger.Transfer
		ts, more, err = cl.AccountTransfers(ctx, page)
		if err != nil {
			fmt.Fprintf(stderr, "chronon client history: %v\n", err)
			return 1
		}
		if len(ts) == 0 {
			break
		}
		var balances map[wire.Uint128]ledger.AccountBalance
		if history {
			if balances, err = pageBalances(ctx, cl, f, ts); err != nil {
				fmt.Fprintf(stderr, "chronon client history: %v\n", err)
				return 1
			}
		}
		for _, t := range ts {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d", t.Timestamp, commitTime(t.Timestamp), decimal(t.ID),
				decimal(t.DebitAccountID), decimal(t.CreditAccountID), decimal(t.Amount), t.Code)
			if history {
				b := balances[t.ID]
				fmt.Fprintf(w, "\t%s\t%s", decimal(b.DebitsPosted), decimal(b.CreditsPosted))
			}
			fmt.Fprintln(w)
		}
		listed += len(ts)
		f = f.After(ts[len(ts)-1].Timestamp)
		if !more {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	switch {
	case listed == 0:
		fmt.Fprintf(stdout, "account %s: no transfers in this range\n", decimal(accountID))
	case more && *reverse:
		fmt.Fprintf(stdout, "more transfers: continue with --to=%d\n", f.TimestampMax)
	case more:
		fmt.Fprintf(stdout, "more transfers: continue with --from=%d\n", f.TimestampMin)
	}
	return 0
}

// pageBalances returns the balances after the transfers of one page, by
// transfer id: the same filter over the page's timestamp range selects the
// same transfers, since a committed range never changes.
func pageBalances(ctx context.Context, cl *client.Client, f ledger.AccountFilter, page []ledger.Transfer) (map[wire.Uint128]ledger.AccountBalance, error) {
	f.TimestampMin = min(page[0].Timestamp, page[len(page)-1].Timestamp)
	f.TimestampMax = max(page[0].Timestamp, page[len(page)-1].Timestamp)
	f.Limit = 0
	out := make(map[wire.Uint128]ledger.AccountBalance, len(page))
	for b, err := range cl.AllAccountBalances(ctx, f) {
		if err != nil {
			return nil, err
		}
		out[b.TransferID] = b
	}
	return out, nil
}

// parseTimestamp parses a --from/--to value: empty (no bound), nanoseconds
// since the Unix epoch, or an RFC 3339 time.
func parseTimestamp(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UnixNano() <= 0 {
		return 0, fmt.Errorf("timestamp %q: want nanoseconds since the epoch or an RFC 3339 time after 1970", s)
	}
	return uint64(t.UnixNano()), nil
}
