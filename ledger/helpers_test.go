package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// harness drives a Ledger the way the replica does: one Context per request
// with a timestamp advanced by the batch's event count.
type harness struct {
	t     testing.TB
	l     *Ledger
	ctx   statemachine.Context
	reply []byte
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, l: l, ctx: statemachine.Context{Timestamp: 1000}}
}

func id(n uint64) wire.Uint128 { return wire.Uint128{Lo: n} }

// apply runs one request and returns the reply bytes (valid until the next
// call).
func (h *harness) apply(op wire.Operation, body []byte) []byte {
	h.t.Helper()
	size := h.l.ReplySizeMax(op, len(body))
	if cap(h.reply) < size {
		h.reply = make([]byte, size)
	}
	h.ctx.Op++
	h.ctx.Timestamp += uint64(len(body)/AccountSize) + 1
	n := h.l.Apply(&h.ctx, op, body, h.reply[:size])
	if n > size {
		h.t.Fatalf("reply %d bytes exceeds ReplySizeMax %d", n, size)
	}
	return h.reply[:n]
}

func decodeResults(t testing.TB, reply []byte) []EventResult {
	t.Helper()
	if len(reply)%EventResultSize != 0 {
		t.Fatalf("reply size %d", len(reply))
	}
	var rs []EventResult
	for i := 0; i < len(reply); i += EventResultSize {
		rs = append(rs, DecodeEventResult(reply[i:]))
	}
	return rs
}

func (h *harness) createAccounts(as ...Account) []EventResult {
	h.t.Helper()
	var body []byte
	for i := range as {
		body = AppendAccount(body, &as[i])
	}
	return decodeResults(h.t, h.apply(OperationCreateAccounts, body))
}

func (h *harness) createTransfers(ts ...Transfer) []EventResult {
	h.t.Helper()
	var body []byte
	for i := range ts {
		body = AppendTransfer(body, &ts[i])
	}
	return decodeResults(h.t, h.apply(OperationCreateTransfers, body))
}

// createAccount creates one account and returns its result.
func (h *harness) createAccount(a Account) Result {
	h.t.Helper()
	rs := h.createAccounts(a)
	if len(rs) == 0 {
		return ResultOK
	}
	return rs[0].Result
}

// createTransfer creates one transfer and returns its result.
func (h *harness) createTransfer(t Transfer) Result {
	h.t.Helper()
	rs := h.createTransfers(t)
	if len(rs) == 0 {
		return ResultOK
	}
	return rs[0].Result
}

func (h *harness) lookupAccounts(ids ...wire.Uint128) []Account {
	var body []byte
	for _, x := range ids {
		body = AppendID(body, x)
	}
	reply := h.apply(OperationLookupAccounts, body)
	var as []Account
	for i := 0; i < len(reply); i += AccountSize {
		var a Account
		a.Decode(reply[i:])
		as = append(as, a)
	}
	return as
}

func (h *harness) lookupTransfers(ids ...wire.Uint128) []Transfer {
	var body []byte
	for _, x := range ids {
		body = AppendID(body, x)
	}
	reply := h.apply(OperationLookupTransfers, body)
	var ts []Transfer
	for i := 0; i < len(reply); i += TransferSize {
		var t Transfer
		t.Decode(reply[i:])
		ts = append(ts, t)
	}
	return ts
}

func account(n uint64) Account {
	return Account{ID: id(n), Ledger: 1, Code: 10}
}

func transfer(n, dr, cr, amount uint64) Transfer {
	return Transfer{ID: id(n), DebitAccountID: id(dr), CreditAccountID: id(cr), Amount: id(amount), Ledger: 1, Code: 1}
}

var testConfig = Config{AccountsMax: 64, TransfersMax: 1024}
