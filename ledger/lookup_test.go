package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

func TestLookups(t *testing.T) {
	h := transferSetup(t)
	as := h.lookupAccounts(id(5), id(99), id(1), id(5))
	if len(as) != 3 || as[0].ID != id(5) || as[1].ID != id(1) || as[2].ID != id(5) {
		t.Fatalf("accounts %+v", as)
	}
	if as[1].DebitsPosted != id(10) || as[1].Ledger != 1 || as[1].Code != 10 || as[1].Timestamp == 0 {
		t.Fatalf("account 1: %+v", as[1])
	}
	ts := h.lookupTransfers(id(2), id(1))
	if len(ts) != 1 || ts[0].ID != id(1) || ts[0].Amount != id(10) || ts[0].Timestamp <= as[1].Timestamp {
		t.Fatalf("transfers %+v", ts)
	}
	if got := h.lookupAccounts(); len(got) != 0 {
		t.Fatalf("empty lookup: %v", got)
	}
}

func TestValidate(t *testing.T) {
	l, err := New(Config{AccountsMax: 1, TransfersMax: 1, BatchMax: 2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		op   wire.Operation
		size int
		want error
	}{
		{"empty create", OperationCreateAccounts, 0, nil},
		{"two transfers", OperationCreateTransfers, 256, nil},
		{"two ids", OperationLookupAccounts, 32, nil},
		{"unknown op", OperationGetAccountBalances + 1, 16, ErrOperation},
		{"reserved op", 3, 0, ErrOperation},
		{"partial event", OperationCreateAccounts, 127, ErrBodySize},
		{"partial id", OperationLookupTransfers, 17, ErrBodySize},
		{"batch max", OperationCreateTransfers, 3 * 128, ErrBatchMax},
		{"batch max ids", OperationLookupAccounts, 3 * 16, ErrBatchMax},
	}
	for _, tt := range tests {
		err := l.Validate(tt.op, make([]byte, tt.size))
		if err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if err := Validate(2, tt.op, make([]byte, tt.size)); err != tt.want {
			t.Errorf("%s: package Validate got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestApplyInvalidBody(t *testing.T) {
	h := newHarness(t, Config{AccountsMax: 4, TransfersMax: 4, BatchMax: 2})
	digest := h.l.Digest()
	for _, op := range []wire.Operation{OperationCreateAccounts, OperationCreateTransfers} {
		for _, size := range []int{1, 129, 3 * 128} {
			rs := decodeResults(t, h.apply(op, make([]byte, size)))
			if len(rs) != 1 || rs[0] != (EventResult{0, ResultBatchInvalid}) {
				t.Fatalf("%s size %d: %v", OperationName(op), size, rs)
			}
		}
	}
	for _, op := range []wire.Operation{OperationLookupAccounts, OperationLookupTransfers, 200, 5} {
		if n := len(h.apply(op, make([]byte, 17))); n != 0 {
			t.Fatalf("%s: reply %d bytes", OperationName(op), n)
		}
	}
	if h.l.Digest() != digest {
		t.Fatal("invalid bodies changed the state")
	}
}

func TestNewConfig(t *testing.T) {
	for _, c := range []Config{{}, {AccountsMax: 1}, {TransfersMax: 1}, {AccountsMax: -1, TransfersMax: 1}, {AccountsMax: 1, TransfersMax: 1, BatchMax: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func TestTimestampAssertion(t *testing.T) {
	h := newHarness(t, testConfig)
	h.createAccounts(account(1))
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a timestamp that did not advance")
		}
	}()
	h.ctx.Timestamp = h.l.CommitTimestamp()
	var b []byte
	a := account(2)
	b = AppendAccount(b, &a)
	h.l.Apply(&h.ctx, OperationCreateAccounts, b, make([]byte, 8))
}
