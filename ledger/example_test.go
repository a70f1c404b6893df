package ledger_test

import (
	"fmt"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// A client builds request bodies with the Append helpers and parses replies
// with DecodeEventResult and Decode; here the ledger is driven directly, the
// way the replica does.
func Example() {
	l, err := ledger.New(ledger.Config{AccountsMax: 16, TransfersMax: 16})
	if err != nil {
		panic(err)
	}
	apply := func(ts uint64, op wire.Operation, body []byte) []byte {
		reply := make([]byte, l.ReplySizeMax(op, len(body)))
		ctx := statemachine.Context{Timestamp: ts}
		return reply[:l.Apply(&ctx, op, body, reply)]
	}

	var body []byte
	for _, id := range []uint64{1, 2} {
		body = ledger.AppendAccount(body, &ledger.Account{ID: wire.Uint128{Lo: id}, Ledger: 700, Code: 10})
	}
	fmt.Println("create_accounts failures:", len(apply(1000, ledger.OperationCreateAccounts, body))/ledger.EventResultSize)

	body = ledger.AppendTransfer(nil, &ledger.Transfer{
		ID: wire.Uint128{Lo: 1}, DebitAccountID: wire.Uint128{Lo: 1}, CreditAccountID: wire.Uint128{Lo: 2},
		Amount: wire.Uint128{Lo: 25}, Ledger: 700, Code: 1,
	})
	body = ledger.AppendTransfer(body, &ledger.Transfer{
		ID: wire.Uint128{Lo: 2}, DebitAccountID: wire.Uint128{Lo: 1}, CreditAccountID: wire.Uint128{Lo: 3},
		Amount: wire.Uint128{Lo: 5}, Ledger: 700, Code: 1,
	})
	reply := apply(2000, ledger.OperationCreateTransfers, body)
	for i := 0; i < len(reply); i += ledger.EventResultSize {
		r := ledger.DecodeEventResult(reply[i:])
		fmt.Printf("transfer %d: %s\n", r.Index, r.Result)
	}

	reply = apply(2001, ledger.OperationLookupAccounts, ledger.AppendID(nil, wire.Uint128{Lo: 2}))
	var a ledger.Account
	a.Decode(reply)
	fmt.Println("account 2 credits_posted:", a.CreditsPosted.Lo, "timestamp:", a.Timestamp)
	// Output:
	// create_accounts failures: 0
	// transfer 1: credit_account_not_found
	// account 2 credits_posted: 25 timestamp: 1000
}
