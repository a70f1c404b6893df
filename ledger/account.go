package ledger

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/wire"
)

// Account is a ledger account. Encoded it is AccountSize (128) bytes,
// little-endian, fields at these offsets:
//
//	  0 16 id
//	 16 16 debits_pending
//	 32 16 debits_posted
//	 48 16 credits_pending
//	 64 16 credits_posted
//	 80 16 user_data_128
//	 96  8 user_data_64
//	104  4 user_data_32
//	108  4 reserved (must be 0)
//	112  4 ledger
//	116  2 code
//	118  2 flags
//	120  8 timestamp (set by the ledger; 0 in create_accounts)
type Account struct {
	ID             wire.Uint128
	DebitsPending  wire.Uint128
	DebitsPosted   wire.Uint128
	CreditsPending wire.Uint128
	CreditsPosted  wire.Uint128
	UserData128    wire.Uint128
	UserData64     uint64
	UserData32     uint32
	Reserved       uint32
	Ledger         uint32
	Code           uint16
	Flags          AccountFlags
	Timestamp      uint64
}

// AccountFlags are the flag bits of an Account.
type AccountFlags uint16

// Account flags. Bits not listed are reserved and must be zero.
const (
	// AccountLinked chains the event with the next one (not supported yet).
	AccountLinked AccountFlags = 1 << 0
	// AccountDebitsMustNotExceedCredits limits debits_pending +
	// debits_posted to credits_posted.
	AccountDebitsMustNotExceedCredits AccountFlags = 1 << 1
	// AccountCreditsMustNotExceedDebits limits credits_pending +
	// credits_posted to debits_posted.
	AccountCreditsMustNotExceedDebits AccountFlags = 1 << 2
	// AccountHistory keeps the account's balances after each of its
	// transfers, for get_account_balances.
	AccountHistory AccountFlags = 1 << 3

	accountFlagsKnown       = AccountLinked | AccountDebitsMustNotExceedCredits | AccountCreditsMustNotExceedDebits | AccountHistory
	accountFlagsUnsupported = AccountLinked
)

// Encode writes a as AccountSize bytes at b[0:128].
func (a *Account) Encode(b []byte) {
	_ = b[AccountSize-1]
	putUint128(b[0:], a.ID)
	putUint128(b[16:], a.DebitsPending)
	putUint128(b[32:], a.DebitsPosted)
	putUint128(b[48:], a.CreditsPending)
	putUint128(b[64:], a.CreditsPosted)
	putUint128(b[80:], a.UserData128)
	binary.LittleEndian.PutUint64(b[96:], a.UserData64)
	binary.LittleEndian.PutUint32(b[104:], a.UserData32)
	binary.LittleEndian.PutUint32(b[108:], a.Reserved)
	binary.LittleEndian.PutUint32(b[112:], a.Ledger)
	binary.LittleEndian.PutUint16(b[116:], a.Code)
	binary.LittleEndian.PutUint16(b[118:], uint16(a.Flags))
	binary.LittleEndian.PutUint64(b[120:], a.Timestamp)
}

// Decode reads a from b[0:128].
func (a *Account) Decode(b []byte) {
	_ = b[AccountSize-1]
	a.ID = getUint128(b[0:])
	a.DebitsPending = getUint128(b[16:])
	a.DebitsPosted = getUint128(b[32:])
	a.CreditsPending = getUint128(b[48:])
	a.CreditsPosted = getUint128(b[64:])
	a.UserData128 = getUint128(b[80:])
	a.UserData64 = binary.LittleEndian.Uint64(b[96:])
	a.UserData32 = binary.LittleEndian.Uint32(b[104:])
	a.Reserved = binary.LittleEndian.Uint32(b[108:])
	a.Ledger = binary.LittleEndian.Uint32(b[112:])
	a.Code = binary.LittleEndian.Uint16(b[116:])
	a.Flags = AccountFlags(binary.LittleEndian.Uint16(b[118:]))
	a.Timestamp = binary.LittleEndian.Uint64(b[120:])
}

// AppendAccount appends the encoding of a to dst.
func AppendAccount(dst []byte, a *Account) []byte {
	var b [AccountSize]byte
	a.Encode(b[:])
	return append(dst, b[:]...)
}
