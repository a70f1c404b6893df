package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

func TestCreateAccountResults(t *testing.T) {
	with := func(f func(a *Account)) Account {
		a := account(100)
		f(&a)
		return a
	}
	tests := []struct {
		name string
		a    Account
		want Result
	}{
		{"ok", account(100), ResultOK},
		{"timestamp", with(func(a *Account) { a.Timestamp = 1 }), ResultTimestampMustBeZero},
		{"reserved", with(func(a *Account) { a.Reserved = 1 }), ResultReservedField},
		{"reserved flag", with(func(a *Account) { a.Flags = 1 << 4 }), ResultReservedFlag},
		{"linked", with(func(a *Account) { a.Flags = AccountLinked }), ResultFlagNotSupported},
		{"history", with(func(a *Account) { a.Flags = AccountHistory }), ResultOK},
		{"id zero", with(func(a *Account) { a.ID = wire.Uint128{} }), ResultIDMustNotBeZero},
		{"id max", with(func(a *Account) { a.ID = maxUint128 }), ResultIDMustNotBeIntMax},
		{"exclusive flags", with(func(a *Account) {
			a.Flags = AccountDebitsMustNotExceedCredits | AccountCreditsMustNotExceedDebits
		}), ResultFlagsAreMutuallyExclusive},
		{"debits pending", with(func(a *Account) { a.DebitsPending = id(1) }), ResultDebitsPendingMustBeZero},
		{"debits posted", with(func(a *Account) { a.DebitsPosted = id(1) }), ResultDebitsPostedMustBeZero},
		{"credits pending", with(func(a *Account) { a.CreditsPending = id(1) }), ResultCreditsPendingMustBeZero},
		{"credits posted", with(func(a *Account) { a.CreditsPosted = id(1) }), ResultCreditsPostedMustBeZero},
		{"ledger", with(func(a *Account) { a.Ledger = 0 }), ResultLedgerMustNotBeZero},
		{"code", with(func(a *Account) { a.Code = 0 }), ResultCodeMustNotBeZero},
		{"exists", account(1), ResultExists},
		{"exists flags", with(func(a *Account) { a.ID = id(1); a.Flags = AccountDebitsMustNotExceedCredits }), ResultExistsWithDifferentFlags},
		{"exists user_data_128", with(func(a *Account) { a.ID = id(1); a.UserData128 = id(1) }), ResultExistsWithDifferentUserData128},
		{"exists user_data_64", with(func(a *Account) { a.ID = id(1); a.UserData64 = 1 }), ResultExistsWithDifferentUserData64},
		{"exists user_data_32", with(func(a *Account) { a.ID = id(1); a.UserData32 = 1 }), ResultExistsWithDifferentUserData32},
		{"exists ledger", with(func(a *Account) { a.ID = id(1); a.Ledger = 2 }), ResultExistsWithDifferentLedger},
		{"exists code", with(func(a *Account) { a.ID = id(1); a.Code = 2 }), ResultExistsWithDifferentCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig)
			if r := h.createAccount(account(1)); r != ResultOK {
				t.Fatalf("setup: %s", r)
			}
			digest := h.l.Digest()
			if got := h.createAccount(tt.a); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if tt.want != ResultOK && h.l.AccountsCount() != 1 {
				t.Fatalf("failed create inserted an account")
			}
			if h.l.rehashStale(); tt.want != ResultOK && h.l.sum != sumOf(h.l) {
				t.Fatalf("digest sum changed by a failed create")
			}
			if tt.want == ResultOK && h.l.Digest() == digest {
				t.Fatalf("digest unchanged by a create")
			}
		})
	}
}

func TestCreateAccountFull(t *testing.T) {
	h := newHarness(t, Config{AccountsMax: 2, TransfersMax: 1})
	rs := h.createAccounts(account(1), account(2), account(3), account(1))
	want := []EventResult{{2, ResultFull}, {3, ResultExists}}
	if len(rs) != len(want) || rs[0] != want[0] || rs[1] != want[1] {
		t.Fatalf("got %v, want %v", rs, want)
	}
}

func TestCreateAccountTimestamps(t *testing.T) {
	h := newHarness(t, testConfig)
	rs := h.createAccounts(account(1), account(0), account(2), account(3))
	if len(rs) != 1 || rs[0] != (EventResult{1, ResultIDMustNotBeZero}) {
		t.Fatalf("results %v", rs)
	}
	as := h.lookupAccounts(id(1), id(2), id(3))
	end := h.l.CommitTimestamp()
	for i, a := range as {
		// Event index i' = 0, 2, 3 of a batch of 4 ending at end.
		want := end - 4 + 1 + []uint64{0, 2, 3}[i]
		if a.Timestamp != want {
			t.Fatalf("account %d timestamp %d, want %d", i, a.Timestamp, want)
		}
	}
}

// sumOf recomputes the digest sum from scratch.
func sumOf(l *Ledger) wire.Uint128 {
	var s wire.Uint128
	for i := range l.accounts {
		s = wrapAdd128(s, hashAccount(&l.accounts[i]))
	}
	for i := range l.transfers {
		s = wrapAdd128(s, hashTransfer(&l.transfers[i]))
	}
	return s
}

func TestResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := Result(0); r < resultCount; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Fatalf("result %d: name %q empty or duplicate", r, s)
		}
		seen[s] = true
	}
	if got := Result(999).String(); got != "result(999)" {
		t.Fatalf("unknown result: %q", got)
	}
}
