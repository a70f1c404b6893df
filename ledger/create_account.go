package ledger

// createAccounts applies a create_accounts body of whole events; event i is
// stamped timestamp+i.
func (l *Ledger) createAccounts(timestamp uint64, input, reply []byte) int {
	w := 0
	var a Account
	for i := 0; i < len(input)/AccountSize; i++ {
		a.Decode(input[i*AccountSize:])
		w = putResult(reply, w, i, l.createAccount(timestamp+uint64(i), &a))
	}
	return w
}

// createAccount checks and inserts one account, in TigerBeetle's order of
// checks.
func (l *Ledger) createAccount(timestamp uint64, a *Account) Result {
	if a.Timestamp != 0 {
		return ResultTimestampMustBeZero
	}
	if a.Reserved != 0 {
		return ResultReservedField
	}
	if a.Flags&^accountFlagsKnown != 0 {
		return ResultReservedFlag
	}
	if a.Flags&accountFlagsUnsupported != 0 {
		return ResultFlagNotSupported
	}
	if a.ID.IsZero() {
		return ResultIDMustNotBeZero
	}
	if a.ID == maxUint128 {
		return ResultIDMustNotBeIntMax
	}
	if a.Flags&AccountDebitsMustNotExceedCredits != 0 && a.Flags&AccountCreditsMustNotExceedDebits != 0 {
		return ResultFlagsAreMutuallyExclusive
	}
	if !a.DebitsPending.IsZero() {
		return ResultDebitsPendingMustBeZero
	}
	if !a.DebitsPosted.IsZero() {
		return ResultDebitsPostedMustBeZero
	}
	if !a.CreditsPending.IsZero() {
		return ResultCreditsPendingMustBeZero
	}
	if !a.CreditsPosted.IsZero() {
		return ResultCreditsPostedMustBeZero
	}
	if a.Ledger == 0 {
		return ResultLedgerMustNotBeZero
	}
	if a.Code == 0 {
		return ResultCodeMustNotBeZero
	}
	pos, i, ok := l.accountIndex.find(a.ID)
	if ok {
		return accountExists(a, &l.accounts[i])
	}
	if len(l.accounts) == l.cfg.AccountsMax {
		l.refusedFull++
		return ResultFull
	}
	a.Timestamp = timestamp
	l.insertAccount(pos, a)
	return ResultOK
}

// accountExists compares a new account with the existing one of the same
// id.
func accountExists(a, e *Account) Result {
	switch {
	case a.Flags != e.Flags:
		return ResultExistsWithDifferentFlags
	case a.UserData128 != e.UserData128:
		return ResultExistsWithDifferentUserData128
	case a.UserData64 != e.UserData64:
		return ResultExistsWithDifferentUserData64
	case a.UserData32 != e.UserData32:
		return ResultExistsWithDifferentUserData32
	case a.Ledger != e.Ledger:
		return ResultExistsWithDifferentLedger
	case a.Code != e.Code:
		return ResultExistsWithDifferentCode
	}
	return ResultExists
}
