package ledger

import (
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestMoneyConservation applies random batches of transfers (valid, invalid,
// duplicate, limit-breaking, huge amounts) and checks after each batch that
// the sum of all debits_posted equals the sum of all credits_posted, that
// every balance-limit flag holds, and that the incremental digest sum equals
// one recomputed from scratch.
func TestMoneyConservation(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		const accounts = 20
		h := newHarness(t, Config{AccountsMax: accounts, TransfersMax: 4000})
		var as []Account
		for i := range accounts {
			a := account(uint64(i + 1))
			a.Ledger = uint32(1 + i%2)
			a.Flags = AccountFlags(rng.IntN(3)) << 1 // none, debits limit or credits limit
			as = append(as, a)
		}
		if rs := h.createAccounts(as...); len(rs) != 0 {
			t.Fatalf("accounts: %v", rs)
		}
		next := uint64(1)
		for batch := 0; batch < 40; batch++ {
			var ts []Transfer
			for range rng.IntN(120) {
				tr := transfer(next, rng.Uint64N(accounts+1)+1, rng.Uint64N(accounts+1)+1, rng.Uint64N(100))
				tr.Ledger = uint32(1 + rng.IntN(2))
				switch rng.IntN(20) {
				case 0:
					tr.ID = id(rng.Uint64N(next) + 1) // duplicate or exists_*
				case 1:
					tr.Amount = wire.Uint128{Lo: rng.Uint64(), Hi: rng.Uint64()}
				case 2:
					tr.Flags = TransferFlags(rng.IntN(1 << 16))
				}
				next++
				ts = append(ts, tr)
			}
			h.createTransfers(ts...)
			checkInvariants(t, h.l)
		}
		if h.l.TransfersCount() < 100 {
			t.Fatalf("seed %d: only %d transfers succeeded", seed, h.l.TransfersCount())
		}
	}
}

func checkInvariants(t *testing.T, l *Ledger) {
	t.Helper()
	var debits, credits wire.Uint128
	for i := range l.accounts {
		a := &l.accounts[i]
		debits = wrapAdd128(debits, a.DebitsPosted)
		credits = wrapAdd128(credits, a.CreditsPosted)
		if a.Flags&AccountDebitsMustNotExceedCredits != 0 && a.CreditsPosted.Less(a.DebitsPosted) {
			t.Fatalf("account %v: debits exceed credits", a.ID)
		}
		if a.Flags&AccountCreditsMustNotExceedDebits != 0 && a.DebitsPosted.Less(a.CreditsPosted) {
			t.Fatalf("account %v: credits exceed debits", a.ID)
		}
	}
	var amounts wire.Uint128
	for i := range l.transfers {
		amounts = wrapAdd128(amounts, l.transfers[i].Amount)
	}
	if debits != credits || debits != amounts {
		t.Fatalf("money not conserved: debits %v credits %v transfers %v", debits, credits, amounts)
	}
	if l.rehashStale(); l.sum != sumOf(l) {
		t.Fatal("incremental digest sum diverged")
	}
}
