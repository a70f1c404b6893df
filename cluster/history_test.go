package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestClusterAccountHistory creates transfers through three replicas and
// reads accounts' histories back through the Go client, paging with a
// small limit in both orders: the transfers and balances equal a model
// built from lookups of every transfer, and refusals are named.
func TestClusterAccountHistory(t *testing.T) {
	c := startCluster(t, 3)
	cl := dial(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var as []ledger.Account
	for i := 1; i <= accounts; i++ {
		a := ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1}
		if i%2 == 1 {
			a.Flags = ledger.AccountHistory
		}
		as = append(as, a)
	}
	if failed, err := cl.CreateAccounts(ctx, as); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	const clients, perClient = 2, 60
	transferLoad(t, c, clients, perClient, 0)
	ids := make([]wire.Uint128, clients*perClient)
	for i := range ids {
		ids[i] = wire.Uint128{Lo: uint64(i + 1)}
	}
	all, err := cl.LookupTransfers(ctx, ids)
	if err != nil || len(all) != len(ids) {
		t.Fatalf("lookup: %d transfers, %v", len(all), err)
	}
	slices.SortFunc(all, cmpTS)

	for _, account := range []uint64{3, 4} {
		aid := wire.Uint128{Lo: account}
		var want []ledger.Transfer
		var wantB []ledger.AccountBalance
		var bal ledger.AccountBalance
		for _, tr := range all {
			if tr.DebitAccountID == aid {
				bal.DebitsPosted.Lo += tr.Amount.Lo
			}
			if tr.CreditAccountID == aid {
				bal.CreditsPosted.Lo += tr.Amount.Lo
			}
			if tr.DebitAccountID == aid || tr.CreditAccountID == aid {
				want = append(want, tr)
				b := bal
				b.Timestamp, b.TransferID = tr.Timestamp, tr.ID
				wantB = append(wantB, b)
			}
		}
		if len(want) < 5 {
			t.Fatalf("account %d: only %d transfers", account, len(want))
		}
		for _, reversed := range []bool{false, true} {
			f := ledger.AccountFilter{AccountID: aid, Flags: ledger.FilterDebits | ledger.FilterCredits, Limit: 3}
			w, wb := slices.Clone(want), slices.Clone(wantB)
			if reversed {
				f.Flags |= ledger.FilterReversed
				slices.Reverse(w)
				slices.Reverse(wb)
			}
			var got []ledger.Transfer
			for tr, err := range cl.AllAccountTransfers(ctx, f) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tr)
			}
			if !slices.Equal(got, w) {
				t.Fatalf("account %d reversed %v: %d transfers differ from the model's %d", account, reversed, len(got), len(w))
			}
			var gotB []ledger.AccountBalance
			for b, err := range cl.AllAccountBalances(ctx, f) {
				if err != nil {
					if account%2 == 0 && errors.Is(err, client.ErrQuery) {
						var qe *client.QueryError
						if !errors.As(err, &qe) || qe.Result != ledger.QueryAccountHistoryNotEnabled {
							t.Fatalf("balances of an account without history: %v", err)
						}
						break
					}
					t.Fatal(err)
				}
				gotB = append(gotB, b)
			}
			if account%2 == 1 && !slices.Equal(gotB, wb) {
				t.Fatalf("account %d reversed %v: balances differ from the model's", account, reversed)
			}
		}
		// A narrow range: want[1..3] by timestamp.
		f := ledger.AccountFilter{AccountID: aid, Flags: ledger.FilterDebits | ledger.FilterCredits,
			TimestampMin: want[1].Timestamp, TimestampMax: want[3].Timestamp}
		got, more, err := cl.AccountTransfers(ctx, f)
		if err != nil || more || !slices.Equal(got, want[1:4]) {
			t.Fatalf("narrow range: %v more %v err %v", got, more, err)
		}
	}
	_, _, err = cl.AccountTransfers(ctx, ledger.AccountFilter{AccountID: wire.Uint128{Lo: 999}, Flags: ledger.FilterDebits})
	var qe *client.QueryError
	if !errors.As(err, &qe) || qe.Result != ledger.QueryAccountNotFound || !errors.Is(err, client.ErrQuery) {
		t.Fatalf("unknown account: %v", err)
	}
	// A filter that selects neither side is refused before it is sent.
	if _, _, err = cl.AccountTransfers(ctx, ledger.AccountFilter{AccountID: wire.Uint128{Lo: 3}}); !errors.Is(err, statemachine.ErrInvalidInput) {
		t.Fatalf("filter without a side: %v", err)
	}
}

func cmpTS(a, b ledger.Transfer) int {
	switch {
	case a.Timestamp < b.Timestamp:
		return -1
	case a.Timestamp > b.Timestamp:
		return 1
	}
	return 0
}
