package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// Accounts of the transfer tests: 1, 2 plain on ledger 1; 3 on ledger 2;
// 4 debits_must_not_exceed_credits; 5 credits_must_not_exceed_debits.
func transferSetup(t *testing.T) *harness {
	h := newHarness(t, testConfig)
	a3 := account(3)
	a3.Ledger = 2
	a4 := account(4)
	a4.Flags = AccountDebitsMustNotExceedCredits
	a5 := account(5)
	a5.Flags = AccountCreditsMustNotExceedDebits
	if rs := h.createAccounts(account(1), account(2), a3, a4, a5); len(rs) != 0 {
		t.Fatalf("setup: %v", rs)
	}
	if r := h.createTransfer(transfer(1, 1, 2, 10)); r != ResultOK {
		t.Fatalf("setup: %s", r)
	}
	return h
}

func TestCreateTransferResults(t *testing.T) {
	with := func(f func(t *Transfer)) Transfer {
		tr := transfer(100, 1, 2, 5)
		f(&tr)
		return tr
	}
	big := wire.Uint128{Lo: ^uint64(0), Hi: ^uint64(0) - 1}
	tests := []struct {
		name  string
		setup []Transfer
		tr    Transfer
		want  Result
	}{
		{"ok", nil, transfer(100, 1, 2, 5), ResultOK},
		{"timestamp", nil, with(func(t *Transfer) { t.Timestamp = 1 }), ResultTimestampMustBeZero},
		{"reserved flag", nil, with(func(t *Transfer) { t.Flags = 1 << 6 }), ResultReservedFlag},
		{"linked", nil, with(func(t *Transfer) { t.Flags = TransferLinked }), ResultFlagNotSupported},
		{"pending", nil, with(func(t *Transfer) { t.Flags = TransferPending }), ResultFlagNotSupported},
		{"post", nil, with(func(t *Transfer) { t.Flags = TransferPostPendingTransfer }), ResultFlagNotSupported},
		{"void", nil, with(func(t *Transfer) { t.Flags = TransferVoidPendingTransfer }), ResultFlagNotSupported},
		{"balancing", nil, with(func(t *Transfer) { t.Flags = TransferBalancingDebit | TransferBalancingCredit }), ResultFlagNotSupported},
		{"id zero", nil, with(func(t *Transfer) { t.ID = wire.Uint128{} }), ResultIDMustNotBeZero},
		{"id max", nil, with(func(t *Transfer) { t.ID = maxUint128 }), ResultIDMustNotBeIntMax},
		{"debit zero", nil, with(func(t *Transfer) { t.DebitAccountID = wire.Uint128{} }), ResultDebitAccountIDMustNotBeZero},
		{"debit max", nil, with(func(t *Transfer) { t.DebitAccountID = maxUint128 }), ResultDebitAccountIDMustNotBeIntMax},
		{"credit zero", nil, with(func(t *Transfer) { t.CreditAccountID = wire.Uint128{} }), ResultCreditAccountIDMustNotBeZero},
		{"credit max", nil, with(func(t *Transfer) { t.CreditAccountID = maxUint128 }), ResultCreditAccountIDMustNotBeIntMax},
		{"same accounts", nil, with(func(t *Transfer) { t.CreditAccountID = id(1) }), ResultAccountsMustBeDifferent},
		{"pending id", nil, with(func(t *Transfer) { t.PendingID = id(1) }), ResultPendingIDMustBeZero},
		{"timeout", nil, with(func(t *Transfer) { t.Timeout = 1 }), ResultTimeoutReservedForPendingTransfer},
		{"ledger", nil, with(func(t *Transfer) { t.Ledger = 0 }), ResultLedgerMustNotBeZero},
		{"code", nil, with(func(t *Transfer) { t.Code = 0 }), ResultCodeMustNotBeZero},
		{"amount", nil, with(func(t *Transfer) { t.Amount = wire.Uint128{} }), ResultAmountMustNotBeZero},
		{"debit not found", nil, with(func(t *Transfer) { t.DebitAccountID = id(99) }), ResultDebitAccountNotFound},
		{"credit not found", nil, with(func(t *Transfer) { t.CreditAccountID = id(99) }), ResultCreditAccountNotFound},
		{"accounts ledgers", nil, with(func(t *Transfer) { t.CreditAccountID = id(3) }), ResultAccountsMustHaveTheSameLedger},
		{"transfer ledger", nil, with(func(t *Transfer) { t.Ledger = 2 }), ResultTransferMustHaveTheSameLedgerAsAccounts},
		{"exists", nil, transfer(1, 1, 2, 10), ResultExists},
		{"exists debit", nil, transfer(1, 4, 2, 10), ResultExistsWithDifferentDebitAccountID},
		{"exists credit", nil, transfer(1, 1, 5, 10), ResultExistsWithDifferentCreditAccountID},
		{"exists amount", nil, transfer(1, 1, 2, 11), ResultExistsWithDifferentAmount},
		{"exists user_data_128", nil, with(func(t *Transfer) { *t = transfer(1, 1, 2, 10); t.UserData128 = id(1) }), ResultExistsWithDifferentUserData128},
		{"exists user_data_64", nil, with(func(t *Transfer) { *t = transfer(1, 1, 2, 10); t.UserData64 = 1 }), ResultExistsWithDifferentUserData64},
		{"exists user_data_32", nil, with(func(t *Transfer) { *t = transfer(1, 1, 2, 10); t.UserData32 = 1 }), ResultExistsWithDifferentUserData32},
		{"exists code", nil, with(func(t *Transfer) { *t = transfer(1, 1, 2, 10); t.Code = 2 }), ResultExistsWithDifferentCode},
		{"overflows debits posted", []Transfer{{ID: id(50), DebitAccountID: id(1), CreditAccountID: id(2), Amount: big, Ledger: 1, Code: 1}},
			with(func(t *Transfer) { t.DebitAccountID = id(1); t.CreditAccountID = id(2); t.Amount = big }), ResultOverflowsDebitsPosted},
		{"overflows credits posted", []Transfer{{ID: id(50), DebitAccountID: id(5), CreditAccountID: id(2), Amount: big, Ledger: 1, Code: 1}},
			with(func(t *Transfer) { t.DebitAccountID = id(4); t.CreditAccountID = id(2); t.Amount = big }), ResultOverflowsCreditsPosted},
		{"exceeds credits", nil, with(func(t *Transfer) { t.DebitAccountID = id(4) }), ResultExceedsCredits},
		{"exceeds debits", nil, with(func(t *Transfer) { t.CreditAccountID = id(5) }), ResultExceedsDebits},
		{"within credits", []Transfer{transfer(50, 1, 4, 5)}, with(func(t *Transfer) { t.DebitAccountID = id(4) }), ResultOK},
		{"within debits", []Transfer{transfer(50, 5, 1, 5)}, with(func(t *Transfer) { t.CreditAccountID = id(5) }), ResultOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := transferSetup(t)
			for _, s := range tt.setup {
				if r := h.createTransfer(s); r != ResultOK {
					t.Fatalf("setup: %s", r)
				}
			}
			before := h.l.AccountsCount() + h.l.TransfersCount()
			h.l.rehashStale()
			sum := h.l.sum
			if got := h.createTransfer(tt.tr); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			h.l.rehashStale()
			if tt.want != ResultOK && (h.l.sum != sum || h.l.AccountsCount()+h.l.TransfersCount() != before) {
				t.Fatalf("failed transfer changed state")
			}
			if h.l.sum != sumOf(h.l) {
				t.Fatalf("incremental digest sum diverged from recomputed")
			}
		})
	}
}

// The overflow codes that need pending balances cannot be reached without
// two-phase transfers; set the pending balance directly to cover them.
func TestCreateTransferOverflowsWithPending(t *testing.T) {
	for _, tc := range []struct {
		debit bool
		want  Result
	}{{true, ResultOverflowsDebits}, {false, ResultOverflowsCredits}} {
		h := transferSetup(t)
		i := h.l.accountSlot(id(1))
		j := h.l.accountSlot(id(2))
		if tc.debit {
			h.l.accounts[i].DebitsPending = maxUint128
		} else {
			h.l.accounts[j].CreditsPending = maxUint128
		}
		if got := h.createTransfer(transfer(100, 1, 2, 1)); got != tc.want {
			t.Fatalf("got %s, want %s", got, tc.want)
		}
	}
}

func TestCreateTransferFull(t *testing.T) {
	h := newHarness(t, Config{AccountsMax: 2, TransfersMax: 2})
	h.createAccounts(account(1), account(2))
	rs := h.createTransfers(transfer(1, 1, 2, 1), transfer(2, 1, 2, 1), transfer(3, 1, 2, 1), transfer(1, 1, 2, 1))
	if len(rs) != 2 || rs[0] != (EventResult{2, ResultFull}) || rs[1] != (EventResult{3, ResultExists}) {
		t.Fatalf("got %v", rs)
	}
	a, _ := h.l.Account(id(1))
	if a.DebitsPosted != id(2) {
		t.Fatalf("debits_posted %v", a.DebitsPosted)
	}
}

func TestCreateTransferBalances(t *testing.T) {
	h := transferSetup(t)
	rs := h.createTransfers(transfer(2, 1, 2, 7), transfer(3, 2, 1, 3), transfer(2, 1, 2, 7))
	if len(rs) != 1 || rs[0] != (EventResult{2, ResultExists}) {
		t.Fatalf("results %v", rs)
	}
	as := h.lookupAccounts(id(1), id(2))
	if as[0].DebitsPosted != id(17) || as[0].CreditsPosted != id(3) ||
		as[1].DebitsPosted != id(3) || as[1].CreditsPosted != id(17) {
		t.Fatalf("balances %+v", as)
	}
}
