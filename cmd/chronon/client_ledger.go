package main

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"text/tabwriter"

	"github.com/chronon-db/chronon/client"
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
