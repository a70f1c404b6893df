package ledger

import "github.com/chronon-db/chronon/wire"

// Operations of the ledger. The numbering is part of the wire format.
const (
	// OperationCreateAccounts creates the accounts of a body of N×Account.
	OperationCreateAccounts = wire.OperationUserMin + 0
	// OperationCreateTransfers creates the transfers of a body of
	// N×Transfer.
	OperationCreateTransfers = wire.OperationUserMin + 1
	// OperationLookupAccounts looks up the accounts of a body of N×16-byte
	// ids.
	OperationLookupAccounts = wire.OperationUserMin + 2
	// OperationLookupTransfers looks up the transfers of a body of
	// N×16-byte ids.
	OperationLookupTransfers = wire.OperationUserMin + 3
	// OperationGetAccountTransfers lists an account's transfers: body one
	// AccountFilter, reply a query header and Transfers (see query.go).
	OperationGetAccountTransfers = wire.OperationUserMin + 4
	// OperationGetAccountBalances lists the balances of an account created
	// with AccountHistory after each of its transfers: body one
	// AccountFilter, reply a query header and AccountBalances.
	OperationGetAccountBalances = wire.OperationUserMin + 5
)

// eventSize returns the size of one event of operation o, or 0 for an
// operation the ledger does not know.
func eventSize(o wire.Operation) int {
	switch o {
	case OperationCreateAccounts:
		return AccountSize
	case OperationCreateTransfers:
		return TransferSize
	case OperationLookupAccounts, OperationLookupTransfers:
		return IDSize
	case OperationGetAccountTransfers, OperationGetAccountBalances:
		return FilterSize
	}
	return 0
}

// OperationName returns the name of a ledger operation, or wire's name for
// any other operation.
func OperationName(o wire.Operation) string {
	switch o {
	case OperationCreateAccounts:
		return "create_accounts"
	case OperationCreateTransfers:
		return "create_transfers"
	case OperationLookupAccounts:
		return "lookup_accounts"
	case OperationLookupTransfers:
		return "lookup_transfers"
	case OperationGetAccountTransfers:
		return "get_account_transfers"
	case OperationGetAccountBalances:
		return "get_account_balances"
	}
	return o.String()
}
