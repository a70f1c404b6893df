package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// fuzzLedger returns a small ledger with accounts 1..5 (ledger 1; 3 limits
// debits, 4 limits credits, 5 untouched) and a few transfers.
func fuzzLedger(t testing.TB) *harness {
	h := newHarness(t, Config{AccountsMax: 8, TransfersMax: 64, BatchMax: 16})
	a3, a4 := account(3), account(4)
	a3.Flags = AccountDebitsMustNotExceedCredits
	a4.Flags = AccountCreditsMustNotExceedDebits
	h.createAccounts(account(1), account(2), a3, a4, account(5)) // 5 stays untouched
	h.createTransfers(transfer(1, 1, 2, 10), transfer(2, 4, 3, 5))
	return h
}

// FuzzApply feeds arbitrary bodies to Validate and Apply. The first byte
// picks the operation (128 + b%7, so unknown operations are covered too);
// the rest is the body. Apply must not panic, must stay within ReplySizeMax,
// must change nothing for a body Validate rejects, and must keep money
// conserved and the digest consistent.
func FuzzApply(f *testing.F) {
	for _, seed := range fuzzApplySeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		op := wire.OperationUserMin + wire.Operation(data[0]%7)
		body := data[1:]
		h := fuzzLedger(t)
		digest := h.l.Digest()
		err := h.l.Validate(op, body)
		if err != nil && !errors.Is(err, statemachine.ErrInvalidInput) {
			t.Fatalf("Validate error %v does not wrap ErrInvalidInput", err)
		}
		reply := h.apply(op, body) // checks ReplySizeMax
		if err != nil {
			if h.l.Digest() != digest {
				t.Fatal("Apply of an invalid body changed the state")
			}
			return
		}
		if op == OperationCreateAccounts || op == OperationCreateTransfers {
			last := -1
			for i := 0; i < len(reply); i += EventResultSize {
				r := DecodeEventResult(reply[i:])
				if int(r.Index) <= last || int(r.Index) >= len(body)/AccountSize || r.Result == ResultOK || r.Result >= resultCount {
					t.Fatalf("bad result %v after index %d", r, last)
				}
				last = int(r.Index)
			}
		}
		checkFuzzInvariants(t, h.l)
	})
}

func checkFuzzInvariants(t *testing.T, l *Ledger) {
	t.Helper()
	var debits, credits wire.Uint128
	for i := range l.accounts {
		debits = wrapAdd128(debits, l.accounts[i].DebitsPosted)
		credits = wrapAdd128(credits, l.accounts[i].CreditsPosted)
	}
	if debits != credits {
		t.Fatal("money not conserved")
	}
	if l.rehashStale(); l.sum != sumOf(l) {
		t.Fatal("digest sum diverged")
	}
}

// FuzzRestore feeds arbitrary snapshots to Restore, both as given and with
// a valid checksum appended (so the checks behind the checksum are reached).
// Restore must not panic; a snapshot it accepts must snapshot back to the
// same bytes (the encoding is canonical).
func FuzzRestore(f *testing.F) {
	for _, seed := range fuzzRestoreSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l := fuzzLedger(t).l
		for _, snap := range [][]byte{data} {
			if err := l.Restore(snap); err != nil {
				if !errors.Is(err, statemachine.ErrInvalidInput) {
					t.Fatalf("Restore error %v does not wrap ErrInvalidInput", err)
				}
				if l.AccountsCount() != 0 || l.TransfersCount() != 0 {
					t.Fatal("failed Restore left state")
				}
				continue
			}
			if again := l.Snapshot(nil); !bytes.Equal(again, snap) {
				t.Fatal("accepted snapshot is not canonical")
			}
			checkFuzzInvariants(t, l)
		}
	})
}

func fuzzApplySeeds() [][]byte {
	op := func(o wire.Operation, body []byte) []byte {
		return append([]byte{byte(o - wire.OperationUserMin)}, body...)
	}
	a := account(9)
	bad := account(10)
	bad.Flags = AccountLinked
	tr := transfer(9, 1, 2, 3)
	over := transfer(10, 3, 1, 100)
	return [][]byte{
		op(OperationCreateAccounts, append(AppendAccount(nil, &a), AppendAccount(nil, &bad)...)),
		op(OperationCreateTransfers, append(AppendTransfer(nil, &tr), AppendTransfer(nil, &over)...)),
		op(OperationLookupAccounts, AppendID(AppendID(nil, id(1)), id(7))),
		op(OperationLookupTransfers, AppendID(nil, id(1))),
		op(OperationCreateTransfers, []byte{1, 2, 3}),
		op(OperationGetAccountTransfers, AppendFilter(nil, &AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits})),
		op(OperationGetAccountBalances, AppendFilter(nil, &AccountFilter{AccountID: id(1), Flags: FilterDebits})),
		{6, 0},
	}
}

func fuzzRestoreSeeds(t testing.TB) [][]byte {
	h := fuzzLedger(t)
	empty := newHarness(t, testConfig).l.Snapshot(nil)
	return [][]byte{h.l.Snapshot(nil), empty, empty[:20]}
}

// TestWriteFuzzCorpus writes the seeds as files under testdata/fuzz when
// CHRONON_WRITE_CORPUS=1 is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CHRONON_WRITE_CORPUS") != "1" {
		t.Skip("set CHRONON_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	writeCorpus(t, "FuzzApply", fuzzApplySeeds())
	writeCorpus(t, "FuzzRestore", fuzzRestoreSeeds(t))
	writeCorpus(t, "FuzzQuery", fuzzQuerySeeds())
}

func writeCorpus(t *testing.T, name string, seeds [][]byte) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
