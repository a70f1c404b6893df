package ledger

import (
	"bytes"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// queryResult is a decoded query reply.
type queryResult struct {
	QueryReply
	transfers []Transfer
	balances  []AccountBalance
}

// query applies a query with room for rooms records and decodes the reply.
func (h *harness) query(op wire.Operation, f AccountFilter, rooms int) queryResult {
	h.t.Helper()
	body := AppendFilter(nil, &f)
	reply := make([]byte, QueryHeaderSize+rooms*TransferSize)
	if len(reply) < h.l.ReplySizeMax(op, len(body)) {
		h.t.Fatalf("room %d below ReplySizeMax", len(reply))
	}
	n := h.l.Apply(&h.ctx, op, body, reply)
	return decodeQuery(h.t, op, reply[:n])
}

func decodeQuery(t testing.TB, op wire.Operation, reply []byte) queryResult {
	t.Helper()
	hdr, records, err := DecodeQueryReply(op, reply)
	if err != nil {
		t.Fatal(err)
	}
	r := queryResult{QueryReply: hdr}
	for i := 0; i < len(records); i += TransferSize {
		if op == OperationGetAccountTransfers {
			var tr Transfer
			tr.Decode(records[i:])
			r.transfers = append(r.transfers, tr)
		} else {
			var b AccountBalance
			b.Decode(records[i:])
			if !bytes.Equal(records[i+88:i+AccountBalanceSize], make([]byte, 40)) {
				t.Fatal("balance record's reserved bytes not zero")
			}
			r.balances = append(r.balances, b)
		}
	}
	return r
}

// modelQuery answers a filter by brute force over the ledger's transfers
// (in timestamp order), replaying the account's balances from zero: the
// whole list in the filter's order, ignoring the limit.
func modelQuery(l *Ledger, f AccountFilter) ([]Transfer, []AccountBalance) {
	var ts []Transfer
	var bs []AccountBalance
	var bal AccountBalance
	max := f.TimestampMax
	if max == 0 {
		max = ^uint64(0)
	}
	for i := range l.transfers {
		t := l.transfers[i]
		debit, credit := t.DebitAccountID == f.AccountID, t.CreditAccountID == f.AccountID
		if debit {
			bal.DebitsPosted = wrapAdd128(bal.DebitsPosted, t.Amount)
		}
		if credit {
			bal.CreditsPosted = wrapAdd128(bal.CreditsPosted, t.Amount)
		}
		if !(debit && f.Flags&FilterDebits != 0 || credit && f.Flags&FilterCredits != 0) {
			continue
		}
		if t.Timestamp < f.TimestampMin || t.Timestamp > max {
			continue
		}
		ts = append(ts, t)
		b := bal
		b.Timestamp, b.TransferID = t.Timestamp, t.ID
		bs = append(bs, b)
	}
	if f.Flags&FilterReversed != 0 {
		slices.Reverse(ts)
		slices.Reverse(bs)
	}
	return ts, bs
}

// checkPage compares one query's answer with the model's first page.
func checkPage(t *testing.T, h *harness, op wire.Operation, f AccountFilter, rooms int) queryResult {
	t.Helper()
	got := h.query(op, f, rooms)
	if got.Result != QueryOK {
		t.Fatalf("%s %+v: result %s", OperationName(op), f, got.Result)
	}
	wantT, wantB := modelQuery(h.l, f)
	n := rooms
	if f.Limit != 0 && int(f.Limit) < n {
		n = int(f.Limit)
	}
	more := len(wantT) > n
	n = min(n, len(wantT))
	if got.More != more || int(got.Count) != n {
		t.Fatalf("%s %+v rooms %d: count %d more %v, want %d %v", OperationName(op), f, rooms, got.Count, got.More, n, more)
	}
	if op == OperationGetAccountTransfers && !slices.Equal(got.transfers, wantT[:n]) {
		t.Fatalf("%s %+v: transfers differ from the model", OperationName(op), f)
	}
	if op == OperationGetAccountBalances && !slices.Equal(got.balances, wantB[:n]) {
		t.Fatalf("%s %+v: balances %v, want %v", OperationName(op), f, got.balances, wantB[:n])
	}
	return got
}

// pageAll pages through a filter's whole answer with the cursor (the last
// record's timestamp) and checks it equals the model's list.
func pageAll(t *testing.T, h *harness, op wire.Operation, f AccountFilter, rooms int) {
	t.Helper()
	wantT, wantB := modelQuery(h.l, f)
	var gotT []Transfer
	var gotB []AccountBalance
	for pages := 0; ; pages++ {
		if pages > len(wantT)+1 {
			t.Fatal("paging does not end")
		}
		r := h.query(op, f, rooms)
		if r.Result != QueryOK {
			t.Fatalf("result %s", r.Result)
		}
		gotT = append(gotT, r.transfers...)
		gotB = append(gotB, r.balances...)
		if !r.More {
			break
		}
		var last uint64
		if op == OperationGetAccountTransfers {
			last = r.transfers[len(r.transfers)-1].Timestamp
		} else {
			last = r.balances[len(r.balances)-1].Timestamp
		}
		f = f.After(last)
	}
	if op == OperationGetAccountTransfers && !slices.Equal(gotT, wantT) {
		t.Fatalf("paged transfers (%d) differ from the model's (%d)", len(gotT), len(wantT))
	}
	if op == OperationGetAccountBalances && !slices.Equal(gotB, wantB) {
		t.Fatalf("paged balances (%d) differ from the model's (%d)", len(gotB), len(wantB))
	}
}

// historyLedger builds a ledger of accounts 1..accounts (odd ones with
// AccountHistory, two ledgers, some with balance limits) and random
// batches of transfers, some of which fail.
func historyLedger(t testing.TB, rng *rand.Rand, accounts, batches int) *harness {
	h := newHarness(t, Config{AccountsMax: accounts + 1, TransfersMax: 4000})
	var as []Account
	for i := range accounts {
		a := account(uint64(i + 1))
		a.Ledger = uint32(1 + i%4/3) // mostly ledger 1
		if i%2 == 0 {
			a.Flags |= AccountHistory
		}
		if i%5 == 4 {
			a.Flags |= AccountDebitsMustNotExceedCredits
		}
		as = append(as, a)
	}
	if rs := h.createAccounts(as...); len(rs) != 0 {
		t.Fatalf("accounts: %v", rs)
	}
	next := uint64(1)
	for range batches {
		var ts []Transfer
		for range rng.IntN(60) {
			// Skew towards account 1 so that it has a long history.
			dr, cr := rng.Uint64N(uint64(accounts))+1, rng.Uint64N(uint64(accounts))+1
			if rng.IntN(3) == 0 {
				dr = 1
			}
			tr := transfer(next, dr, cr, rng.Uint64N(50)+1)
			tr.Ledger = uint32(1 + rng.IntN(8)/7)
			if rng.IntN(15) == 0 {
				tr.ID = id(rng.Uint64N(next) + 1)
			}
			next++
			ts = append(ts, tr)
		}
		h.createTransfers(ts...)
		// Timestamps with gaps, so ranges that fall between transfers occur.
		h.ctx.Timestamp += rng.Uint64N(5)
	}
	return h
}

// randomFilter picks a filter of an existing or unknown account with a
// range around the ledger's transfer timestamps.
func randomFilter(rng *rand.Rand, l *Ledger, accounts int) AccountFilter {
	f := AccountFilter{AccountID: id(rng.Uint64N(uint64(accounts)) + 1), Limit: uint32(rng.IntN(12))}
	f.Flags = FilterFlags(1 + rng.IntN(3))
	if rng.IntN(2) == 0 {
		f.Flags |= FilterReversed
	}
	ts := func() uint64 {
		if len(l.transfers) == 0 || rng.IntN(4) == 0 {
			return 0
		}
		return l.transfers[rng.IntN(len(l.transfers))].Timestamp + rng.Uint64N(3) - 1
	}
	f.TimestampMin, f.TimestampMax = ts(), ts()
	if rng.IntN(3) != 0 && f.TimestampMax != 0 && f.TimestampMin > f.TimestampMax {
		f.TimestampMin, f.TimestampMax = f.TimestampMax, f.TimestampMin
	}
	return f
}

// TestAccountQueriesAgainstModel checks random get_account_transfers and
// get_account_balances queries (random accounts, ranges, limits, orders,
// reply room) against a brute-force model while transfers are added, and
// that paging through each answer with the cursor yields the model's whole
// list.
func TestAccountQueriesAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 15))
		const accounts = 9
		h := historyLedger(t, rng, accounts, 0)
		next := uint64(1)
		for round := range 30 {
			var ts []Transfer
			for range rng.IntN(80) {
				dr, cr := rng.Uint64N(accounts)+1, rng.Uint64N(accounts)+1
				if rng.IntN(3) == 0 {
					dr = 1
				}
				tr := transfer(next, dr, cr, rng.Uint64N(50)+1)
				if rng.IntN(15) == 0 {
					tr.ID = id(rng.Uint64N(next) + 1) // exists or exists_with_*
				}
				next++
				ts = append(ts, tr)
			}
			h.createTransfers(ts...)
			h.ctx.Timestamp += rng.Uint64N(5)
			for range 20 {
				f := randomFilter(rng, h.l, accounts)
				rooms := 1 + rng.IntN(15)
				checkPage(t, h, OperationGetAccountTransfers, f, rooms)
				if f.AccountID.Lo%2 == 1 {
					checkPage(t, h, OperationGetAccountBalances, f, rooms)
				}
			}
			if round%10 == 9 {
				for a := uint64(1); a <= accounts; a++ {
					for _, flags := range []FilterFlags{FilterDebits | FilterCredits, FilterDebits | FilterReversed, FilterCredits, FilterDebits | FilterCredits | FilterReversed} {
						f := AccountFilter{AccountID: id(a), Flags: flags, Limit: uint32(rng.IntN(7))}
						pageAll(t, h, OperationGetAccountTransfers, f, 1+rng.IntN(9))
						if a%2 == 1 {
							pageAll(t, h, OperationGetAccountBalances, f, 1+rng.IntN(9))
						}
					}
				}
			}
		}
		if n := h.l.TransfersCount(); n < 500 {
			t.Fatalf("seed %d: only %d transfers", seed, n)
		}
	}
}

func TestFilterAfter(t *testing.T) {
	f := AccountFilter{TimestampMin: 5, TimestampMax: 50, Flags: FilterDebits}
	if g := f.After(9); g.TimestampMin != 10 || g.TimestampMax != 50 {
		t.Fatalf("ascending: %+v", g)
	}
	f.Flags |= FilterReversed
	if g := f.After(9); g.TimestampMin != 5 || g.TimestampMax != 8 {
		t.Fatalf("reversed: %+v", g)
	}
	h := newHarness(t, testConfig)
	h.createAccounts(account(1), account(2))
	h.createTransfers(transfer(1, 1, 2, 1))
	for _, g := range []AccountFilter{f.After(1), f.After(0), AccountFilter{Flags: FilterCredits}.After(^uint64(0))} {
		g.AccountID = id(2)
		g.Flags |= FilterCredits
		if r := h.query(OperationGetAccountTransfers, g, 2); r.Result != QueryOK || r.Count != 0 || r.More {
			t.Fatalf("after the ends: %+v gives %+v", g, r)
		}
	}
}

// TestAccountQueryResults covers every QueryResult and the matching
// Validate errors.
func TestAccountQueryResults(t *testing.T) {
	h := newHarness(t, testConfig)
	hist := account(2)
	hist.Flags = AccountHistory
	h.createAccounts(account(1), hist)
	h.createTransfers(transfer(1, 1, 2, 5), transfer(2, 2, 1, 3))
	ok := AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits}
	with := func(fn func(f *AccountFilter)) AccountFilter {
		f := ok
		fn(&f)
		return f
	}
	tests := []struct {
		name string
		op   wire.Operation
		f    AccountFilter
		want QueryResult
	}{
		{"ok", OperationGetAccountTransfers, ok, QueryOK},
		{"reserved", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.Reserved[23] = 1 }), QueryReservedField},
		{"reserved flag", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.Flags |= 1 << 3 }), QueryReservedFlag},
		{"high flag", OperationGetAccountBalances, with(func(f *AccountFilter) { f.Flags |= 1 << 31 }), QueryReservedFlag},
		{"no side", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.Flags = FilterReversed }), QueryDebitsOrCreditsRequired},
		{"id zero", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.AccountID = wire.Uint128{} }), QueryAccountIDMustNotBeZero},
		{"id max", OperationGetAccountBalances, with(func(f *AccountFilter) { f.AccountID = maxUint128 }), QueryAccountIDMustNotBeIntMax},
		{"not found", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.AccountID = id(9) }), QueryAccountNotFound},
		{"balances not found", OperationGetAccountBalances, with(func(f *AccountFilter) { f.AccountID = id(9) }), QueryAccountNotFound},
		{"no history", OperationGetAccountBalances, ok, QueryAccountHistoryNotEnabled},
		{"history", OperationGetAccountBalances, with(func(f *AccountFilter) { f.AccountID = id(2) }), QueryOK},
		{"empty range", OperationGetAccountTransfers, with(func(f *AccountFilter) { f.TimestampMin, f.TimestampMax = 9, 8 }), QueryOK},
	}
	for _, tt := range tests {
		body := AppendFilter(nil, &tt.f)
		r := h.query(tt.op, tt.f, 4)
		if r.Result != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, r.Result, tt.want)
		}
		if r.Result != QueryOK && (r.Count != 0 || r.More) {
			t.Errorf("%s: records with result %s", tt.name, r.Result)
		}
		err := h.l.Validate(tt.op, body)
		if stateless := tt.want != QueryOK && tt.want != QueryAccountNotFound && tt.want != QueryAccountHistoryNotEnabled; stateless != (err != nil) {
			t.Errorf("%s: Validate %v", tt.name, err)
		}
		if err != nil && (!errors.Is(err, statemachine.ErrInvalidInput) || err != queryErrors[tt.want]) {
			t.Errorf("%s: Validate error %v", tt.name, err)
		}
	}
	for _, size := range []int{0, 1, FilterSize - 1, FilterSize + 1, 2 * FilterSize} {
		for _, op := range []wire.Operation{OperationGetAccountTransfers, OperationGetAccountBalances} {
			if err := Validate(0, op, make([]byte, size)); err != queryErrors[QueryInvalidBody] {
				t.Errorf("%s body of %d bytes: Validate %v", OperationName(op), size, err)
			}
			reply := make([]byte, h.l.ReplySizeMax(op, size))
			n := h.l.Apply(&h.ctx, op, make([]byte, size), reply)
			if r := decodeQuery(t, op, reply[:n]); r.Result != QueryInvalidBody {
				t.Errorf("%s body of %d bytes: %s", OperationName(op), size, r.Result)
			}
		}
	}
	if s := QueryResult(99).String(); s != "query_result(99)" {
		t.Errorf("String of an unknown result: %q", s)
	}
	for r := QueryResult(0); r < queryResultCount; r++ {
		if r.String() == "" {
			t.Errorf("result %d has no name", r)
		}
	}
}

// TestAccountBalancesExample spells out a small history by hand.
func TestAccountBalancesExample(t *testing.T) {
	h := newHarness(t, testConfig)
	a := account(1)
	a.Flags = AccountHistory
	h.createAccounts(a, account(2), account(3))
	h.createTransfers(transfer(10, 1, 2, 100), transfer(11, 2, 3, 7), transfer(12, 2, 1, 30))
	h.createTransfers(transfer(13, 1, 3, 5))
	r := h.query(OperationGetAccountBalances, AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits}, 10)
	want := []struct{ id, debits, credits uint64 }{{10, 100, 0}, {12, 100, 30}, {13, 105, 30}}
	if len(r.balances) != len(want) || r.More {
		t.Fatalf("balances %+v", r.balances)
	}
	for i, w := range want {
		b := r.balances[i]
		tr, _ := h.l.Transfer(id(w.id))
		if b.TransferID != id(w.id) || b.Timestamp != tr.Timestamp || b.DebitsPosted != id(w.debits) || b.CreditsPosted != id(w.credits) ||
			!b.DebitsPending.IsZero() || !b.CreditsPending.IsZero() {
			t.Fatalf("balance %d: %+v, want %+v", i, b, w)
		}
	}
	// Credits only, newest first, one per page.
	f := AccountFilter{AccountID: id(2), Flags: FilterCredits | FilterReversed, Limit: 1}
	r = h.query(OperationGetAccountTransfers, f, 10)
	if len(r.transfers) != 1 || r.transfers[0].ID != id(10) || r.More {
		t.Fatalf("credits of 2: %+v", r)
	}
	f.Flags = FilterDebits | FilterReversed
	r = h.query(OperationGetAccountTransfers, f, 10)
	if len(r.transfers) != 1 || r.transfers[0].ID != id(12) || !r.More {
		t.Fatalf("debits of 2: %+v", r)
	}
}

// TestHistoryRestoreRebuild checks that Restore rebuilds the history index
// and the balance history exactly as the incremental build made them.
func TestHistoryRestoreRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 15))
	h := historyLedger(t, rng, 9, 40)
	snap := h.l.Snapshot(nil)
	r := newHarness(t, h.l.Config())
	r.ctx = h.ctx
	if err := r.l.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r.l.Digest() != h.l.Digest() {
		t.Fatal("digest differs after Restore")
	}
	if !slices.Equal(r.l.chunks, h.l.chunks) || !slices.Equal(r.l.lists, h.l.lists) {
		t.Fatal("history chunks or account lists differ after Restore")
	}
	used := len(h.l.chunks) * chunkSlots
	if !slices.Equal(r.l.balances[:used], h.l.balances[:used]) || !slices.Equal(r.l.tailBalances, h.l.tailBalances) {
		t.Fatal("balance history differs after Restore")
	}
	if h.l.balances[0] == (balance{}) && h.l.balances[1] == (balance{}) {
		t.Fatal("no balance history built")
	}
	for range 200 {
		f := randomFilter(rng, h.l, 9)
		for _, op := range []wire.Operation{OperationGetAccountTransfers, OperationGetAccountBalances} {
			a, b := h.query(op, f, 5), r.query(op, f, 5)
			if a.QueryReply != b.QueryReply || !slices.Equal(a.transfers, b.transfers) || !slices.Equal(a.balances, b.balances) {
				t.Fatalf("%s %+v: answers differ after Restore", OperationName(op), f)
			}
		}
	}
	// Reset empties the index too.
	h.l.Reset()
	h.createAccounts(account(1), account(2))
	h.createTransfers(transfer(1, 1, 2, 1))
	q := h.query(OperationGetAccountTransfers, AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits}, 5)
	if len(q.transfers) != 1 || len(h.l.chunks) != 0 || h.l.lists[0].fill != 1 || h.l.lists[3].fill != 1 {
		t.Fatalf("after Reset: %+v, %d chunks", q, len(h.l.chunks))
	}
}

// TestHistorySearchIsLogarithmic counts the chunks visited by the walk back
// to a slot in a long list: a narrow range anywhere in 1,000,000 entries
// of one account costs tens of steps, not the history, and finds the
// right entry.
func TestHistorySearchIsLogarithmic(t *testing.T) {
	n := uint32(1_000_000)
	if testing.Short() {
		n = 100_000
	}
	l, err := New(Config{AccountsMax: 2, TransfersMax: int(n)})
	if err != nil {
		t.Fatal(err)
	}
	l.accounts = append(l.accounts, account(1), account(2))
	for s := range n {
		l.indexTransfer(2*s, 0, 1, &l.accounts[0], &l.accounts[1]) // even slots only
	}
	ls, _ := l.listOf(sideDebit, 0)
	worst := 0
	for _, bound := range []uint32{0, 1, 2, 3, 23, 24, 25, 100, 4095, 4096, n / 2, n/2 + 1, n, 2*n - 3, 2*n - 2, 2 * n, 777_777} {
		p, steps := l.lastAtMost(ls, bound)
		want := min(bound, 2*n-2) &^ 1
		if p.c == 0 || l.slotAt(ls, p) != want {
			t.Fatalf("lastAtMost(%d) = %+v, want slot %d", bound, p, want)
		}
		if q := l.firstAtLeast(ls, bound); bound <= 2*n-2 && (q.c == 0 || l.slotAt(ls, q) != (bound+1)&^1) {
			t.Fatalf("firstAtLeast(%d) = %+v", bound, q)
		}
		worst = max(worst, steps)
	}
	// 3 log2(chunks) bounds the skew-binary walk.
	if chunks := len(l.chunks); worst > 3*bits.Len(uint(chunks)) {
		t.Fatalf("a search took %d steps over %d chunks", worst, chunks)
	}
	t.Logf("worst search: %d chunks visited of %d", worst, len(l.chunks))
}

// FuzzQuery feeds arbitrary filters (and bodies) to both queries of a small
// ledger with history: no panic, the reply within the room, well framed,
// the named result Validate agrees with, and for a valid filter the
// model's answer.
func FuzzQuery(f *testing.F) {
	for _, seed := range fuzzQuerySeeds() {
		f.Add(seed)
	}
	h := historyLedger(f, rand.New(rand.NewPCG(3, 15)), 5, 6)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		op := OperationGetAccountTransfers + wire.Operation(data[0]%2)
		body := data[1:]
		rooms := 1 + int(data[0]>>1)%8
		reply := make([]byte, QueryHeaderSize+rooms*TransferSize)
		digest := h.l.Digest()
		n := h.l.Apply(&h.ctx, op, body, reply)
		if n > len(reply) || h.l.Digest() != digest {
			t.Fatalf("reply of %d bytes in %d, or the state changed", n, len(reply))
		}
		r := decodeQuery(t, op, reply[:n])
		err := h.l.Validate(op, body)
		if (err != nil) != (r.Result != QueryOK && r.Result != QueryAccountNotFound && r.Result != QueryAccountHistoryNotEnabled) {
			t.Fatalf("Validate %v, result %s", err, r.Result)
		}
		if r.Result != QueryOK {
			return
		}
		var filter AccountFilter
		filter.Decode(body)
		checkPage(t, &harness{t: t, l: h.l, ctx: h.ctx}, op, filter, rooms)
	})
}

func fuzzQuerySeeds() [][]byte {
	q := func(op wire.Operation, rooms byte, f AccountFilter) []byte {
		return append([]byte{byte(op-OperationGetAccountTransfers) | rooms<<1}, AppendFilter(nil, &f)...)
	}
	return [][]byte{
		q(OperationGetAccountTransfers, 3, AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits}),
		q(OperationGetAccountBalances, 1, AccountFilter{AccountID: id(1), Flags: FilterCredits | FilterReversed, Limit: 2}),
		q(OperationGetAccountTransfers, 0, AccountFilter{AccountID: id(2), Flags: FilterDebits, TimestampMin: 1010, TimestampMax: 1100}),
		q(OperationGetAccountBalances, 2, AccountFilter{AccountID: id(2), Flags: FilterDebits}),
		q(OperationGetAccountTransfers, 0, AccountFilter{AccountID: id(1), Flags: 8}),
		{0, 1, 2, 3},
	}
}
