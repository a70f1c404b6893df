package ledger

import "fmt"

// createTransfers applies a create_transfers body of whole events; event i
// is stamped timestamp+i.
func (l *Ledger) createTransfers(timestamp uint64, input, reply []byte) int {
	w := 0
	var t Transfer
	n := len(input) / TransferSize
	for i := 0; i < n; i++ {
		if i%warmEvents == 0 {
			l.warm(input[i*TransferSize : min(n, i+warmEvents)*TransferSize])
		}
		t.Decode(input[i*TransferSize:])
		w = putResult(reply, w, i, l.createTransfer(timestamp+uint64(i), &t))
	}
	return w
}

// warmEvents is how many transfers warm loads ahead of their checks.
const warmEvents = 32

// warm loads, for each transfer of input, the first index entry its id and
// its accounts' ids probe, then the account records those entries name.
// The loads are independent of each other, so the CPU overlaps their cache
// misses (in a ledger of millions of transfers every id index probe
// misses); the checks that follow find the lines in cache. It changes
// nothing.
func (l *Ledger) warm(input []byte) {
	var sink uint64
	tx, ax := &l.transferIndex, &l.accountIndex
	var slots [2 * warmEvents]uint64
	k := 0
	for b := input; len(b) >= TransferSize; b = b[TransferSize:] {
		sink += tx.entries[hashID(getUint128(b[0:]), tx.seed)&tx.mask]
		slots[k] = ax.entries[hashID(getUint128(b[16:]), ax.seed)&ax.mask]
		slots[k+1] = ax.entries[hashID(getUint128(b[32:]), ax.seed)&ax.mask]
		k += 2
	}
	for i, e := range slots[:k] {
		if s := uint32(e); s != 0 && int(s) <= len(l.accounts) {
			// The record, and the history list the transfer appends to
			// (debit list for even i, credit for odd).
			sink += l.accounts[s-1].Timestamp + uint64(l.lists[2*(s-1)+uint32(i&1)].fill)
		}
	}
	l.warmSink += sink
}

// createTransfer checks one transfer, in TigerBeetle's order of checks, and
// posts it: the debit account's debits_posted and the credit account's
// credits_posted grow by the amount.
func (l *Ledger) createTransfer(timestamp uint64, t *Transfer) Result {
	if r := checkTransfer(t); r != ResultOK {
		return r
	}
	di, ok := l.accountIndex.get(t.DebitAccountID)
	if !ok {
		return ResultDebitAccountNotFound
	}
	ci, ok := l.accountIndex.get(t.CreditAccountID)
	if !ok {
		return ResultCreditAccountNotFound
	}
	dr, cr := &l.accounts[di], &l.accounts[ci]
	if dr.Ledger != cr.Ledger {
		return ResultAccountsMustHaveTheSameLedger
	}
	if t.Ledger != dr.Ledger {
		return ResultTransferMustHaveTheSameLedgerAsAccounts
	}
	pos, i, ok := l.transferIndex.find(t.ID)
	if ok {
		return transferExists(t, l.transferAt(i))
	}
	if len(l.transfers) == l.cfg.TransfersMax {
		l.refusedFull++
		return ResultFull
	}
	if l.cfg.Effects != nil && l.cfg.Effects.Room() == 0 {
		return ResultOutboxFull
	}
	debitsPosted, overflow := add128(dr.DebitsPosted, t.Amount)
	if overflow {
		return ResultOverflowsDebitsPosted
	}
	creditsPosted, overflow := add128(cr.CreditsPosted, t.Amount)
	if overflow {
		return ResultOverflowsCreditsPosted
	}
	debits, overflow := add128(dr.DebitsPending, debitsPosted)
	if overflow {
		return ResultOverflowsDebits
	}
	credits, overflow := add128(cr.CreditsPending, creditsPosted)
	if overflow {
		return ResultOverflowsCredits
	}
	if dr.Flags&AccountDebitsMustNotExceedCredits != 0 && dr.CreditsPosted.Less(debits) {
		return ResultExceedsCredits
	}
	if cr.Flags&AccountCreditsMustNotExceedDebits != 0 && cr.DebitsPosted.Less(credits) {
		return ResultExceedsDebits
	}

	t.Timestamp = timestamp
	dr.DebitsPosted = debitsPosted
	cr.CreditsPosted = creditsPosted
	// The history index first: its loads (the accounts' list tails) then
	// overlap with the transfer's hashing.
	l.indexTransfer(uint32(len(l.transfers)), di, ci, dr, cr)
	l.insertTransfer(pos, t)
	l.rehashAccount(di)
	l.rehashAccount(ci)
	if l.cfg.Effects != nil {
		t.Encode(l.effectPayload[:])
		if _, err := l.cfg.Effects.Emit(EffectTransferCreated, l.cfg.EffectsTarget, l.effectPayload[:]); err != nil {
			// Room was checked and sizes at New: only a replica bug gets here.
			panic(fmt.Sprintf("ledger: emitting the effect of transfer %v: %v", t.ID, err))
		}
	}
	return ResultOK
}

// checkTransfer runs the checks that need no state.
func checkTransfer(t *Transfer) Result {
	switch {
	case t.Timestamp != 0:
		return ResultTimestampMustBeZero
	case t.Flags&^transferFlagsKnown != 0:
		return ResultReservedFlag
	case t.Flags != 0:
		return ResultFlagNotSupported
	case t.ID.IsZero():
		return ResultIDMustNotBeZero
	case t.ID == maxUint128:
		return ResultIDMustNotBeIntMax
	case t.DebitAccountID.IsZero():
		return ResultDebitAccountIDMustNotBeZero
	case t.DebitAccountID == maxUint128:
		return ResultDebitAccountIDMustNotBeIntMax
	case t.CreditAccountID.IsZero():
		return ResultCreditAccountIDMustNotBeZero
	case t.CreditAccountID == maxUint128:
		return ResultCreditAccountIDMustNotBeIntMax
	case t.CreditAccountID == t.DebitAccountID:
		return ResultAccountsMustBeDifferent
	case !t.PendingID.IsZero():
		return ResultPendingIDMustBeZero
	case t.Timeout != 0:
		return ResultTimeoutReservedForPendingTransfer
	case t.Ledger == 0:
		return ResultLedgerMustNotBeZero
	case t.Code == 0:
		return ResultCodeMustNotBeZero
	case t.Amount.IsZero():
		return ResultAmountMustNotBeZero
	}
	return ResultOK
}

// transferExists compares a new transfer with the existing one of the same
// id. The ledger was already checked against the accounts.
func transferExists(t, e *Transfer) Result {
	switch {
	case t.Flags != e.Flags:
		return ResultExistsWithDifferentFlags
	case t.DebitAccountID != e.DebitAccountID:
		return ResultExistsWithDifferentDebitAccountID
	case t.CreditAccountID != e.CreditAccountID:
		return ResultExistsWithDifferentCreditAccountID
	case t.Amount != e.Amount:
		return ResultExistsWithDifferentAmount
	case t.UserData128 != e.UserData128:
		return ResultExistsWithDifferentUserData128
	case t.UserData64 != e.UserData64:
		return ResultExistsWithDifferentUserData64
	case t.UserData32 != e.UserData32:
		return ResultExistsWithDifferentUserData32
	case t.Code != e.Code:
		return ResultExistsWithDifferentCode
	}
	return ResultExists
}
