package ledger

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/wire"
)

// Transfer moves Amount from the debit account to the credit account.
// Encoded it is TransferSize (128) bytes, little-endian, fields at these
// offsets:
//
//	  0 16 id
//	 16 16 debit_account_id
//	 32 16 credit_account_id
//	 48 16 amount
//	 64 16 pending_id (must be 0 for now)
//	 80 16 user_data_128
//	 96  8 user_data_64
//	104  4 user_data_32
//	108  4 timeout (must be 0 for now)
//	112  4 ledger
//	116  2 code
//	118  2 flags
//	120  8 timestamp (set by the ledger; 0 in create_transfers)
type Transfer struct {
	ID              wire.Uint128
	DebitAccountID  wire.Uint128
	CreditAccountID wire.Uint128
	Amount          wire.Uint128
	PendingID       wire.Uint128
	UserData128     wire.Uint128
	UserData64      uint64
	UserData32      uint32
	Timeout         uint32
	Ledger          uint32
	Code            uint16
	Flags           TransferFlags
	Timestamp       uint64
}

// TransferFlags are the flag bits of a Transfer. None is supported yet;
// the defined ones are reserved for two-phase and balancing transfers and
// are rejected with ResultFlagNotSupported.
type TransferFlags uint16

// Transfer flags. Bits not listed are reserved and must be zero.
const (
	// TransferLinked chains the event with the next one.
	TransferLinked TransferFlags = 1 << 0
	// TransferPending reserves the amount (two-phase transfer).
	TransferPending TransferFlags = 1 << 1
	// TransferPostPendingTransfer posts the pending transfer pending_id.
	TransferPostPendingTransfer TransferFlags = 1 << 2
	// TransferVoidPendingTransfer voids the pending transfer pending_id.
	TransferVoidPendingTransfer TransferFlags = 1 << 3
	// TransferBalancingDebit clamps the amount to the debit account's
	// available balance.
	TransferBalancingDebit TransferFlags = 1 << 4
	// TransferBalancingCredit clamps the amount to the credit account's
	// available balance.
	TransferBalancingCredit TransferFlags = 1 << 5

	transferFlagsKnown = TransferLinked | TransferPending | TransferPostPendingTransfer |
		TransferVoidPendingTransfer | TransferBalancingDebit | TransferBalancingCredit
)

// Encode writes t as TransferSize bytes at b[0:128].
func (t *Transfer) Encode(b []byte) {
	_ = b[TransferSize-1]
	putUint128(b[0:], t.ID)
	putUint128(b[16:], t.DebitAccountID)
	putUint128(b[32:], t.CreditAccountID)
	putUint128(b[48:], t.Amount)
	putUint128(b[64:], t.PendingID)
	putUint128(b[80:], t.UserData128)
	binary.LittleEndian.PutUint64(b[96:], t.UserData64)
	binary.LittleEndian.PutUint32(b[104:], t.UserData32)
	binary.LittleEndian.PutUint32(b[108:], t.Timeout)
	binary.LittleEndian.PutUint32(b[112:], t.Ledger)
	binary.LittleEndian.PutUint16(b[116:], t.Code)
	binary.LittleEndian.PutUint16(b[118:], uint16(t.Flags))
	binary.LittleEndian.PutUint64(b[120:], t.Timestamp)
}

// Decode reads t from b[0:128].
func (t *Transfer) Decode(b []byte) {
	_ = b[TransferSize-1]
	t.ID = getUint128(b[0:])
	t.DebitAccountID = getUint128(b[16:])
	t.CreditAccountID = getUint128(b[32:])
	t.Amount = getUint128(b[48:])
	t.PendingID = getUint128(b[64:])
	t.UserData128 = getUint128(b[80:])
	t.UserData64 = binary.LittleEndian.Uint64(b[96:])
	t.UserData32 = binary.LittleEndian.Uint32(b[104:])
	t.Timeout = binary.LittleEndian.Uint32(b[108:])
	t.Ledger = binary.LittleEndian.Uint32(b[112:])
	t.Code = binary.LittleEndian.Uint16(b[116:])
	t.Flags = TransferFlags(binary.LittleEndian.Uint16(b[118:]))
	t.Timestamp = binary.LittleEndian.Uint64(b[120:])
}

// AppendTransfer appends the encoding of t to dst.
func AppendTransfer(dst []byte, t *Transfer) []byte {
	var b [TransferSize]byte
	t.Encode(b[:])
	return append(dst, b[:]...)
}
