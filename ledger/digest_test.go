package ledger

import (
	"testing"
)

func TestDigestSameOpsSameDigest(t *testing.T) {
	a, b := transferSetup(t), transferSetup(t)
	if a.l.Digest() != b.l.Digest() {
		t.Fatal("same ops, different digests")
	}
	a.createTransfer(transfer(2, 1, 2, 3))
	if a.l.Digest() == b.l.Digest() {
		t.Fatal("differing op, same digest")
	}
	b.createTransfer(transfer(2, 1, 2, 3))
	if a.l.Digest() != b.l.Digest() {
		t.Fatal("converged ops, different digests")
	}
	// Amounts that differ only in one bit, user data, timestamps.
	a.createTransfer(transfer(3, 1, 2, 4))
	b.createTransfer(transfer(3, 1, 2, 5))
	if a.l.Digest() == b.l.Digest() {
		t.Fatal("different amounts, same digest")
	}
}

func TestDigestRepeatedTransfersDoNotCancel(t *testing.T) {
	// Two equal-amount transfers return an account to a state whose hash
	// appeared before; a sum (unlike XOR) keeps every step distinct.
	h := transferSetup(t)
	seen := map[[2]uint64]bool{}
	for i := range uint64(20) {
		d := h.l.Digest()
		if seen[[2]uint64{d.Lo, d.Hi}] {
			t.Fatalf("step %d: digest repeated", i)
		}
		seen[[2]uint64{d.Lo, d.Hi}] = true
		if r := h.createTransfer(transfer(10+i, 1+i%2, 2-i%2, 1)); r != ResultOK {
			t.Fatalf("step %d: %s", i, r)
		}
	}
}

func TestDigestDependsOnTimestamp(t *testing.T) {
	a, b := newHarness(t, testConfig), newHarness(t, testConfig)
	b.ctx.Timestamp += 1
	a.createAccounts(account(1))
	b.createAccounts(account(1))
	if a.l.Digest() == b.l.Digest() {
		t.Fatal("different timestamps, same digest")
	}
}

// TestDigestStaleAccountsFlushAtTheirBound: with room for only two stale
// accounts, transfers over many accounts flush the stale list as it
// fills, and the digest sum always equals one recomputed from scratch.
func TestDigestStaleAccountsFlushAtTheirBound(t *testing.T) {
	h := newHarness(t, Config{AccountsMax: 8, TransfersMax: 32})
	h.l.staleAccounts = make([]uint32, 0, 2)
	for n := uint64(1); n <= 6; n++ {
		if r := h.createAccount(Account{ID: id(n), Ledger: 1, Code: 1}); r != ResultOK {
			t.Fatalf("account %d: %s", n, r)
		}
	}
	for i := uint64(0); i < 20; i++ {
		if r := h.createTransfer(Transfer{ID: id(100 + i), DebitAccountID: id(1 + i%6), CreditAccountID: id(1 + (i+1)%6), Amount: id(1), Ledger: 1, Code: 1}); r != ResultOK {
			t.Fatalf("transfer %d: %s", i, r)
		}
		if len(h.l.staleAccounts) > 2 {
			t.Fatalf("%d stale accounts, bound 2", len(h.l.staleAccounts))
		}
	}
	h.l.rehashStale()
	if h.l.sum != sumOf(h.l) {
		t.Fatal("digest sum diverged from recomputed after bounded flushes")
	}
}
