package ledger

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/chronon-db/chronon/statemachine"
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

// rawBytes returns the memory of records of size bytes each.
func rawBytes[T Account | Transfer](records []T, size int) []byte {
	if len(records) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&records[0])), len(records)*size)
}

// encodeAccounts writes the encodings of as to b (len(as)×AccountSize
// bytes).
func encodeAccounts(b []byte, as []Account) {
	if rawRecords {
		copy(b, rawBytes(as, AccountSize))
		return
	}
	for i := range as {
		as[i].Encode(b[i*AccountSize:])
	}
}

// encodeTransfers writes the encodings of ts to b (len(ts)×TransferSize
// bytes).
func encodeTransfers(b []byte, ts []Transfer) {
	if rawRecords {
		copy(b, rawBytes(ts, TransferSize))
		return
	}
	for i := range ts {
		ts[i].Encode(b[i*TransferSize:])
	}
}

// transfersSegment is the snapshot segment of the transfers
// (SnapshotSegments: header, transfers, accounts).
const transfersSegment = 1

var _ statemachine.StableSnapshot = (*Ledger)(nil)

// SnapshotStable implements statemachine.StableSnapshot: the transfers
// never change once created, so their whole segment is stable.
func (l *Ledger) SnapshotStable() (segment, size int) {
	return transfersSegment, len(l.transfers) * TransferSize
}

// AppendSnapshotRange implements statemachine.StableSnapshot.
func (l *Ledger) AppendSnapshotRange(dst []byte, from, to int) []byte {
	if from < 0 || to < from || to > len(l.transfers)*TransferSize {
		panic(fmt.Sprintf("ledger: snapshot range [%d, %d) of %d transfers", from, to, len(l.transfers)))
	}
	if from == to {
		return dst
	}
	if rawRecords {
		return append(dst, rawBytes(l.transfers, TransferSize)[from:to]...)
	}
	var rec [TransferSize]byte
	for i := from / TransferSize; i*TransferSize < to; i++ {
		l.transfers[i].Encode(rec[:])
		lo, hi := max(from-i*TransferSize, 0), min(to-i*TransferSize, TransferSize)
		dst = append(dst, rec[lo:hi]...)
	}
	return dst
}
