package ledger

import (
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// u128 returns a value whose 16 little-endian bytes are b, b+1, ..., b+15.
func u128(b byte) wire.Uint128 {
	var x [16]byte
	for i := range x {
		x[i] = b + byte(i)
	}
	return getUint128(x[:])
}

// TestAccountLayout pins the documented offsets of every Account field.
func TestAccountLayout(t *testing.T) {
	a := Account{
		ID: u128(0), DebitsPending: u128(16), DebitsPosted: u128(32), CreditsPending: u128(48),
		CreditsPosted: u128(64), UserData128: u128(80), UserData64: 0x6766656463626160,
		UserData32: 0x6b6a6968, Reserved: 0x6f6e6d6c, Ledger: 0x73727170, Code: 0x7574,
		Flags: 0x7776, Timestamp: 0x7f7e7d7c7b7a7978,
	}
	var b [AccountSize]byte
	a.Encode(b[:])
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d = %#x: a field is not at its documented offset", i, b[i])
		}
	}
	var d Account
	d.Decode(b[:])
	if d != a {
		t.Fatalf("round trip: %+v", d)
	}
}

// TestTransferLayout pins the documented offsets of every Transfer field.
func TestTransferLayout(t *testing.T) {
	tr := Transfer{
		ID: u128(0), DebitAccountID: u128(16), CreditAccountID: u128(32), Amount: u128(48),
		PendingID: u128(64), UserData128: u128(80), UserData64: 0x6766656463626160,
		UserData32: 0x6b6a6968, Timeout: 0x6f6e6d6c, Ledger: 0x73727170, Code: 0x7574,
		Flags: 0x7776, Timestamp: 0x7f7e7d7c7b7a7978,
	}
	var b [TransferSize]byte
	tr.Encode(b[:])
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d = %#x: a field is not at its documented offset", i, b[i])
		}
	}
	var d Transfer
	d.Decode(b[:])
	if d != tr {
		t.Fatalf("round trip: %+v", d)
	}
	r := EventResult{Index: 0x03020100, Result: 0x07060504}
	r.Encode(b[:])
	if binary.LittleEndian.Uint64(b[:]) != 0x0706050403020100 || DecodeEventResult(b[:]) != r {
		t.Fatal("EventResult layout")
	}
	// A request body is message_size_max minus two headers (the request's
	// and the prepare's that carries it): 8188 records of 128 bytes.
	if BatchMaxFor(wire.MessageSizeMaxProduction) != BatchMaxDefault || BatchMaxDefault != 8188 {
		t.Fatal("BatchMaxDefault")
	}
}
