package ledger

import (
	"encoding/binary"
	"strconv"
)

// Result is the outcome of one create event. A create reply lists only the
// events whose result is not ResultOK. The numbering is part of the wire
// format; new codes are only ever appended.
type Result uint32

// Results of create_accounts and create_transfers. The comment says which
// operation can return each code ("accounts", "transfers", "both").
const (
	// ResultOK: the event was applied (never sent in a reply).
	ResultOK Result = 0
	// ResultBatchInvalid: the whole body is malformed (size not a multiple
	// of the event size, or more than Config.BatchMax events); nothing was
	// applied. Sent once, with index 0. Validate rejects such bodies, so a
	// client only sees it if a replica skipped Validate. Both.
	ResultBatchInvalid Result = 1
	// ResultTimestampMustBeZero: the timestamp field is set by the ledger.
	// Both.
	ResultTimestampMustBeZero Result = 2
	// ResultReservedField: a reserved field is not zero. Accounts.
	ResultReservedField Result = 3
	// ResultReservedFlag: an undefined flag bit is set. Both.
	ResultReservedFlag Result = 4
	// ResultFlagNotSupported: a defined flag that is not implemented yet is
	// set (linked, history; pending, post/void pending, balancing). Both.
	ResultFlagNotSupported Result = 5
	// ResultIDMustNotBeZero: id is 0. Both.
	ResultIDMustNotBeZero Result = 6
	// ResultIDMustNotBeIntMax: id is 2^128-1. Both.
	ResultIDMustNotBeIntMax Result = 7
	// ResultFlagsAreMutuallyExclusive: debits_must_not_exceed_credits and
	// credits_must_not_exceed_debits are both set. Accounts.
	ResultFlagsAreMutuallyExclusive Result = 8
	// ResultDebitsPendingMustBeZero: a new account has debits_pending ≠ 0.
	ResultDebitsPendingMustBeZero Result = 9
	// ResultDebitsPostedMustBeZero: a new account has debits_posted ≠ 0.
	ResultDebitsPostedMustBeZero Result = 10
	// ResultCreditsPendingMustBeZero: a new account has credits_pending ≠ 0.
	ResultCreditsPendingMustBeZero Result = 11
	// ResultCreditsPostedMustBeZero: a new account has credits_posted ≠ 0.
	ResultCreditsPostedMustBeZero Result = 12
	// ResultLedgerMustNotBeZero: ledger is 0. Both.
	ResultLedgerMustNotBeZero Result = 13
	// ResultCodeMustNotBeZero: code is 0. Both.
	ResultCodeMustNotBeZero Result = 14
	// ResultExistsWithDifferentFlags: the id exists with other flags. Both.
	ResultExistsWithDifferentFlags Result = 15
	// ResultExistsWithDifferentUserData128: the id exists with another
	// user_data_128. Both.
	ResultExistsWithDifferentUserData128 Result = 16
	// ResultExistsWithDifferentUserData64: the id exists with another
	// user_data_64. Both.
	ResultExistsWithDifferentUserData64 Result = 17
	// ResultExistsWithDifferentUserData32: the id exists with another
	// user_data_32. Both.
	ResultExistsWithDifferentUserData32 Result = 18
	// ResultExistsWithDifferentLedger: the id exists with another ledger.
	// Accounts (a transfer's ledger is checked against its accounts first).
	ResultExistsWithDifferentLedger Result = 19
	// ResultExistsWithDifferentCode: the id exists with another code. Both.
	ResultExistsWithDifferentCode Result = 20
	// ResultExists: the id exists with identical fields; the create is
	// idempotent and nothing changed. Both.
	ResultExists Result = 21
	// ResultDebitAccountIDMustNotBeZero: debit_account_id is 0. Transfers.
	ResultDebitAccountIDMustNotBeZero Result = 22
	// ResultDebitAccountIDMustNotBeIntMax: debit_account_id is 2^128-1.
	ResultDebitAccountIDMustNotBeIntMax Result = 23
	// ResultCreditAccountIDMustNotBeZero: credit_account_id is 0.
	ResultCreditAccountIDMustNotBeZero Result = 24
	// ResultCreditAccountIDMustNotBeIntMax: credit_account_id is 2^128-1.
	ResultCreditAccountIDMustNotBeIntMax Result = 25
	// ResultAccountsMustBeDifferent: debit and credit account are the same.
	ResultAccountsMustBeDifferent Result = 26
	// ResultPendingIDMustBeZero: pending_id is set (two-phase transfers
	// are not implemented yet). Transfers.
	ResultPendingIDMustBeZero Result = 27
	// ResultTimeoutReservedForPendingTransfer: timeout is set on a transfer
	// that is not pending. Transfers.
	ResultTimeoutReservedForPendingTransfer Result = 28
	// ResultAmountMustNotBeZero: amount is 0. Transfers.
	ResultAmountMustNotBeZero Result = 29
	// ResultDebitAccountNotFound: no account has debit_account_id.
	ResultDebitAccountNotFound Result = 30
	// ResultCreditAccountNotFound: no account has credit_account_id.
	ResultCreditAccountNotFound Result = 31
	// ResultAccountsMustHaveTheSameLedger: the two accounts are on
	// different ledgers. Transfers.
	ResultAccountsMustHaveTheSameLedger Result = 32
	// ResultTransferMustHaveTheSameLedgerAsAccounts: the transfer's ledger
	// differs from its accounts'. Transfers.
	ResultTransferMustHaveTheSameLedgerAsAccounts Result = 33
	// ResultExistsWithDifferentDebitAccountID: the id exists with another
	// debit_account_id. Transfers.
	ResultExistsWithDifferentDebitAccountID Result = 34
	// ResultExistsWithDifferentCreditAccountID: the id exists with another
	// credit_account_id. Transfers.
	ResultExistsWithDifferentCreditAccountID Result = 35
	// ResultExistsWithDifferentAmount: the id exists with another amount.
	ResultExistsWithDifferentAmount Result = 36
	// ResultOverflowsDebitsPosted: debits_posted + amount overflows u128.
	ResultOverflowsDebitsPosted Result = 37
	// ResultOverflowsCreditsPosted: credits_posted + amount overflows u128.
	ResultOverflowsCreditsPosted Result = 38
	// ResultOverflowsDebits: debits_pending + debits_posted + amount
	// overflows u128.
	ResultOverflowsDebits Result = 39
	// ResultOverflowsCredits: credits_pending + credits_posted + amount
	// overflows u128.
	ResultOverflowsCredits Result = 40
	// ResultExceedsCredits: the debit account has
	// debits_must_not_exceed_credits and its debits would exceed its
	// posted credits.
	ResultExceedsCredits Result = 41
	// ResultExceedsDebits: the credit account has
	// credits_must_not_exceed_debits and its credits would exceed its
	// posted debits.
	ResultExceedsDebits Result = 42
	// ResultFull: the table (accounts or transfers) is at capacity. Both.
	ResultFull Result = 43
	// ResultOutboxFull: the transfer would emit an effect and the outbox
	// is at capacity (until the dispatcher's acks free it). Transfers.
	ResultOutboxFull Result = 44

	resultCount = 45
)

var resultNames = [resultCount]string{
	"ok",
	"batch_invalid",
	"timestamp_must_be_zero",
	"reserved_field",
	"reserved_flag",
	"flag_not_supported",
	"id_must_not_be_zero",
	"id_must_not_be_int_max",
	"flags_are_mutually_exclusive",
	"debits_pending_must_be_zero",
	"debits_posted_must_be_zero",
	"credits_pending_must_be_zero",
	"credits_posted_must_be_zero",
	"ledger_must_not_be_zero",
	"code_must_not_be_zero",
	"exists_with_different_flags",
	"exists_with_different_user_data_128",
	"exists_with_different_user_data_64",
	"exists_with_different_user_data_32",
	"exists_with_different_ledger",
	"exists_with_different_code",
	"exists",
	"debit_account_id_must_not_be_zero",
	"debit_account_id_must_not_be_int_max",
	"credit_account_id_must_not_be_zero",
	"credit_account_id_must_not_be_int_max",
	"accounts_must_be_different",
	"pending_id_must_be_zero",
	"timeout_reserved_for_pending_transfer",
	"amount_must_not_be_zero",
	"debit_account_not_found",
	"credit_account_not_found",
	"accounts_must_have_the_same_ledger",
	"transfer_must_have_the_same_ledger_as_accounts",
	"exists_with_different_debit_account_id",
	"exists_with_different_credit_account_id",
	"exists_with_different_amount",
	"overflows_debits_posted",
	"overflows_credits_posted",
	"overflows_debits",
	"overflows_credits",
	"exceeds_credits",
	"exceeds_debits",
	"full",
	"outbox_full",
}

// String returns the snake_case name of r, or "result(N)" for an unknown
// code.
func (r Result) String() string {
	if r < resultCount {
		return resultNames[r]
	}
	return "result(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// EventResult is one entry of a create reply: the index of the failed event
// in the request body and its result.
type EventResult struct {
	Index  uint32
	Result Result
}

// Encode writes r as 8 bytes (index u32, result u32) at b[0:8].
func (r EventResult) Encode(b []byte) {
	_ = b[EventResultSize-1]
	binary.LittleEndian.PutUint32(b[0:4], r.Index)
	binary.LittleEndian.PutUint32(b[4:8], uint32(r.Result))
}

// DecodeEventResult reads an EventResult from b[0:8].
func DecodeEventResult(b []byte) EventResult {
	_ = b[EventResultSize-1]
	return EventResult{
		Index:  binary.LittleEndian.Uint32(b[0:4]),
		Result: Result(binary.LittleEndian.Uint32(b[4:8])),
	}
}
