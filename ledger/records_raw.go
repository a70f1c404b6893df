package ledger

import (
	"bytes"
	"unsafe"
)

// Accounts and transfers are held as Go structs whose fields are laid out
// in the order and sizes of their 128-byte encodings. On a little-endian
// machine with no padding (checked once at start-up by encoding a probe
// both ways), the encoding of a run of records is their memory, and a
// snapshot copies it in one move instead of field by field.
var rawRecords = probeRawRecords()

func probeRawRecords() bool {
	if unsafe.Sizeof(Account{}) != AccountSize || unsafe.Sizeof(Transfer{}) != TransferSize {
		return false
	}
	var a Account
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a)), AccountSize)
	var t Transfer
	tb := unsafe.Slice((*byte)(unsafe.Pointer(&t)), TransferSize)
	for i := range ab {
		ab[i] = byte(i + 1)
	}
	for i := range tb {
		tb[i] = byte(2*i + 1)
	}
	var ea [AccountSize]byte
	var et [TransferSize]byte
	a.Encode(ea[:])
	t.Encode(et[:])
	return bytes.Equal(ea[:], ab) && bytes.Equal(et[:], tb)
}

// encodeAccounts writes the encodings of as to b (len(as)×AccountSize
// bytes).
func encodeAccounts(b []byte, as []Account) {
	if rawRecords && len(as) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&as[0])), len(as)*AccountSize))
		return
	}
	for i := range as {
		as[i].Encode(b[i*AccountSize:])
	}
}

// encodeTransfers writes the encodings of ts to b (len(ts)×TransferSize
// bytes).
func encodeTransfers(b []byte, ts []Transfer) {
	if rawRecords && len(ts) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&ts[0])), len(ts)*TransferSize))
		return
	}
	for i := range ts {
		ts[i].Encode(b[i*TransferSize:])
	}
}
