package sim

import (
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// ledgerAccounts is the number of accounts of the ledger workload (ids
// 1..ledgerAccounts, ledger 1, code 1).
const ledgerAccounts = 4

// ledgerInput is one ledger request (ledger requests are not fed to the
// linearizability checker; ledgerAudit checks their effects).
type ledgerInput struct {
	op       wire.Operation
	transfer wire.Uint128 // create_transfers: the transfer's id
	ids      int          // lookup_accounts: ids asked for
}

// ledgerLookupCopies is how often half the lookups name every account: a
// reply of 10 × 4 × 128 bytes, above the test preset's 4 KiB reply slot,
// so the replicas keep it among their few large replies and drop the
// oldest (wire.Limits.RepliesLargeMax; a retry of a dropped one gets
// eviction(reply_dropped)).
const ledgerLookupCopies = 10

// ledgerAudit collects what the ledger clients learned, for the final
// exactly-once and no-lost-ack checks.
type ledgerAudit struct {
	acked   []wire.Uint128 // transfers a reply confirmed created
	unknown int            // transfers whose outcome no client learned
	// refused are the transfers answered outbox_full: never created
	// (clients do not send them again).
	refused []wire.Uint128
}

// ledgerClient creates the accounts (idempotently: every client tries),
// then creates transfers of amount 1 between random accounts and looks
// accounts up.
type ledgerClient struct {
	audit    *ledgerAudit
	accounts bool
	n        uint64
}

func (w *ledgerClient) next(c *client) (wire.Operation, []byte, any) {
	s := c.sim
	if !w.accounts {
		var body []byte
		for i := 1; i <= ledgerAccounts; i++ {
			body = ledger.AppendAccount(body, &ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1})
		}
		return ledger.OperationCreateAccounts, body, ledgerInput{op: ledger.OperationCreateAccounts}
	}
	if s.rng.IntN(4) == 0 {
		copies := 1
		if s.rng.IntN(2) == 0 {
			copies = ledgerLookupCopies
		}
		var body []byte
		for range copies {
			for i := 1; i <= ledgerAccounts; i++ {
				body = ledger.AppendID(body, wire.Uint128{Lo: uint64(i)})
			}
		}
		return ledger.OperationLookupAccounts, body, ledgerInput{op: ledger.OperationLookupAccounts, ids: copies * ledgerAccounts}
	}
	w.n++
	debit := 1 + s.rng.IntN(ledgerAccounts)
	credit := 1 + (debit+s.rng.IntN(ledgerAccounts-1))%ledgerAccounts
	t := ledger.Transfer{
		ID:              wire.Uint128{Lo: w.n, Hi: c.id.Lo},
		DebitAccountID:  wire.Uint128{Lo: uint64(debit)},
		CreditAccountID: wire.Uint128{Lo: uint64(credit)},
		Amount:          wire.Uint128{Lo: 1},
		Ledger:          1,
		Code:            1,
	}
	return ledger.OperationCreateTransfers, ledger.AppendTransfer(nil, &t), ledgerInput{op: ledger.OperationCreateTransfers, transfer: t.ID}
}

func (w *ledgerClient) reply(c *client, input any, body []byte) (any, error) {
	in := input.(ledgerInput)
	switch in.op {
	case ledger.OperationCreateAccounts:
		if len(body)%ledger.EventResultSize != 0 {
			return nil, violation(InvariantWorkload, "create_accounts reply of %d bytes", len(body))
		}
		for b := body; len(b) > 0; b = b[ledger.EventResultSize:] {
			if r := ledger.DecodeEventResult(b); r.Result != ledger.ResultExists {
				return nil, violation(InvariantWorkload, "create_accounts event %d: %v", r.Index, r.Result)
			}
		}
		w.accounts = true
	case ledger.OperationCreateTransfers:
		if len(body) != 0 {
			r := ledger.DecodeEventResult(body)
			if len(body) == ledger.EventResultSize && r.Index == 0 && r.Result == ledger.ResultOutboxFull {
				// Legitimate only where the table was full as the op was
				// applied: every replica checks that (checkEffectRoom),
				// and the final audit that it was never created.
				c.sim.stats.Outbox.OutboxFull++
				w.audit.refused = append(w.audit.refused, in.transfer)
				return nil, nil
			}
			return nil, violation(InvariantExactlyOnce, "transfer %x:%x was not created exactly once: %v", in.transfer.Hi, in.transfer.Lo, r.Result)
		}
		w.audit.acked = append(w.audit.acked, in.transfer)
	case ledger.OperationLookupAccounts:
		if len(body)%ledger.AccountSize != 0 || len(body) > in.ids*ledger.AccountSize {
			return nil, violation(InvariantWorkload, "lookup_accounts reply of %d bytes", len(body))
		}
		var debits, credits uint64
		for b := body; len(b) > 0; b = b[ledger.AccountSize:] {
			var a ledger.Account
			a.Decode(b)
			debits += a.DebitsPosted.Lo
			credits += a.CreditsPosted.Lo
		}
		if debits != credits {
			return nil, violation(InvariantWorkload, "lookup_accounts saw %d debits and %d credits posted", debits, credits)
		}
	}
	return nil, nil
}

func (w *ledgerClient) abandon(_ *client, input any) {
	if in := input.(ledgerInput); in.op == ledger.OperationCreateTransfers {
		w.audit.unknown++
	}
}
