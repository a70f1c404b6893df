package ledger

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Account-history queries (get_account_transfers, get_account_balances).
//
// The body is exactly one AccountFilter, FilterSize (64) bytes,
// little-endian:
//
//	 0 16 account_id
//	16  8 timestamp_min (inclusive; 0: no lower bound)
//	24  8 timestamp_max (inclusive; 0: no upper bound)
//	32  4 limit (most results; 0: as many as fit the reply)
//	36  4 flags (FilterDebits 1 | FilterCredits 2 | FilterReversed 4)
//	40 24 reserved (must be 0)
//
// The reply is a QueryHeaderSize (16) header, then count records:
//
//	 0 4 result (QueryResult; records follow only for QueryOK)
//	 4 4 count
//	 8 4 flags (bit 0 more: more results match after the last one)
//	12 4 reserved (0)
//
// get_account_transfers' records are 128-byte Transfers; get_account_balances'
// are 128-byte AccountBalances. Both are in ascending timestamp order, or
// descending with FilterReversed. To page, ask again with timestamp_min (or,
// reversed, timestamp_max) just past the last record's timestamp while more
// is set.
const (
	// FilterSize is the size of an AccountFilter, the whole body of a query.
	FilterSize = 64
	// QueryHeaderSize is the size of a query reply's header.
	QueryHeaderSize = 16
	// AccountBalanceSize is the size of an encoded AccountBalance.
	AccountBalanceSize = 128
)

// FilterFlags select what a query returns.
type FilterFlags uint32

// Filter flags. Bits not listed are reserved and must be zero; at least one
// of FilterDebits and FilterCredits must be set.
const (
	// FilterDebits includes transfers that debit the account.
	FilterDebits FilterFlags = 1 << 0
	// FilterCredits includes transfers that credit the account.
	FilterCredits FilterFlags = 1 << 1
	// FilterReversed returns results in descending timestamp order.
	FilterReversed FilterFlags = 1 << 2

	filterFlagsKnown = FilterDebits | FilterCredits | FilterReversed
)

// AccountFilter is the body of get_account_transfers and
// get_account_balances.
type AccountFilter struct {
	AccountID    wire.Uint128
	TimestampMin uint64
	TimestampMax uint64
	Limit        uint32
	Flags        FilterFlags
	Reserved     [24]byte
}

// Encode writes f as FilterSize bytes at b[0:64].
func (f *AccountFilter) Encode(b []byte) {
	_ = b[FilterSize-1]
	putUint128(b[0:], f.AccountID)
	binary.LittleEndian.PutUint64(b[16:], f.TimestampMin)
	binary.LittleEndian.PutUint64(b[24:], f.TimestampMax)
	binary.LittleEndian.PutUint32(b[32:], f.Limit)
	binary.LittleEndian.PutUint32(b[36:], uint32(f.Flags))
	copy(b[40:64], f.Reserved[:])
}

// Decode reads f from b[0:64].
func (f *AccountFilter) Decode(b []byte) {
	_ = b[FilterSize-1]
	f.AccountID = getUint128(b[0:])
	f.TimestampMin = binary.LittleEndian.Uint64(b[16:])
	f.TimestampMax = binary.LittleEndian.Uint64(b[24:])
	f.Limit = binary.LittleEndian.Uint32(b[32:])
	f.Flags = FilterFlags(binary.LittleEndian.Uint32(b[36:]))
	copy(f.Reserved[:], b[40:64])
}

// After returns the filter of the page that follows a page whose last
// record has the given timestamp: the same filter with the range's lower
// bound (upper bound, for FilterReversed) moved past it.
func (f AccountFilter) After(timestamp uint64) AccountFilter {
	if f.Flags&FilterReversed != 0 {
		if timestamp <= 1 {
			// Nothing precedes timestamp 1; an inverted range is empty.
			f.TimestampMin, f.TimestampMax = 2, 1
			return f
		}
		f.TimestampMax = timestamp - 1
	} else {
		if timestamp == ^uint64(0) {
			f.TimestampMin, f.TimestampMax = 2, 1
			return f
		}
		f.TimestampMin = timestamp + 1
	}
	return f
}

// AppendFilter appends the encoding of f to dst.
func AppendFilter(dst []byte, f *AccountFilter) []byte {
	var b [FilterSize]byte
	f.Encode(b[:])
	return append(dst, b[:]...)
}

// AccountBalance is an account's balances right after one of its
// transfers, a record of get_account_balances. Encoded it is
// AccountBalanceSize (128) bytes, little-endian:
//
//	 0 16 debits_pending
//	16 16 debits_posted
//	32 16 credits_pending
//	48 16 credits_posted
//	64  8 timestamp (the transfer's)
//	72 16 transfer_id
//	88 40 reserved (0)
type AccountBalance struct {
	DebitsPending  wire.Uint128
	DebitsPosted   wire.Uint128
	CreditsPending wire.Uint128
	CreditsPosted  wire.Uint128
	Timestamp      uint64
	TransferID     wire.Uint128
}

// Encode writes b as AccountBalanceSize bytes at dst[0:128].
func (b *AccountBalance) Encode(dst []byte) {
	_ = dst[AccountBalanceSize-1]
	putUint128(dst[0:], b.DebitsPending)
	putUint128(dst[16:], b.DebitsPosted)
	putUint128(dst[32:], b.CreditsPending)
	putUint128(dst[48:], b.CreditsPosted)
	binary.LittleEndian.PutUint64(dst[64:], b.Timestamp)
	putUint128(dst[72:], b.TransferID)
	clear(dst[88:AccountBalanceSize])
}

// Decode reads b from src[0:128].
func (b *AccountBalance) Decode(src []byte) {
	_ = src[AccountBalanceSize-1]
	b.DebitsPending = getUint128(src[0:])
	b.DebitsPosted = getUint128(src[16:])
	b.CreditsPending = getUint128(src[32:])
	b.CreditsPosted = getUint128(src[48:])
	b.Timestamp = binary.LittleEndian.Uint64(src[64:])
	b.TransferID = getUint128(src[72:])
}

// QueryResult says whether a query was answered. The numbering is part of
// the wire format; new codes are only ever appended.
type QueryResult uint32

// Query results.
const (
	// QueryOK: the records follow (possibly none).
	QueryOK QueryResult = 0
	// QueryInvalidBody: the body is not exactly one FilterSize-byte filter.
	QueryInvalidBody QueryResult = 1
	// QueryReservedField: the filter's reserved bytes are not zero.
	QueryReservedField QueryResult = 2
	// QueryReservedFlag: an undefined filter flag bit is set.
	QueryReservedFlag QueryResult = 3
	// QueryDebitsOrCreditsRequired: neither FilterDebits nor FilterCredits
	// is set.
	QueryDebitsOrCreditsRequired QueryResult = 4
	// QueryAccountIDMustNotBeZero: account_id is 0.
	QueryAccountIDMustNotBeZero QueryResult = 5
	// QueryAccountIDMustNotBeIntMax: account_id is 2^128-1.
	QueryAccountIDMustNotBeIntMax QueryResult = 6
	// QueryAccountNotFound: no account has account_id.
	QueryAccountNotFound QueryResult = 7
	// QueryAccountHistoryNotEnabled: get_account_balances of an account
	// created without AccountHistory.
	QueryAccountHistoryNotEnabled QueryResult = 8

	queryResultCount = 9
)

var queryResultNames = [queryResultCount]string{
	"ok", "invalid_body", "reserved_field", "reserved_flag",
	"debits_or_credits_required", "account_id_must_not_be_zero",
	"account_id_must_not_be_int_max", "account_not_found",
	"account_history_not_enabled",
}

// String returns the result's name.
func (r QueryResult) String() string {
	if r < queryResultCount {
		return queryResultNames[r]
	}
	return "query_result(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// QueryReply is a decoded query reply header.
type QueryReply struct {
	Result QueryResult
	Count  uint32
	// More says that more results match after the last one.
	More bool
}

// DecodeQueryReply checks a query reply's framing for operation and returns
// its header and its records (count × 128 bytes, aliasing reply).
func DecodeQueryReply(operation wire.Operation, reply []byte) (QueryReply, []byte, error) {
	if !isQuery(operation) {
		return QueryReply{}, nil, fmt.Errorf("%w: %s is not a query", ErrOperation, OperationName(operation))
	}
	if len(reply) < QueryHeaderSize {
		return QueryReply{}, nil, fmt.Errorf("ledger: %s reply of %d bytes, below the %d-byte header: %w", OperationName(operation), len(reply), QueryHeaderSize, statemachine.ErrInvalidInput)
	}
	le := binary.LittleEndian
	h := QueryReply{Result: QueryResult(le.Uint32(reply[0:])), Count: le.Uint32(reply[4:])}
	flags := le.Uint32(reply[8:])
	h.More = flags&1 != 0
	records := reply[QueryHeaderSize:]
	switch {
	case flags&^1 != 0 || le.Uint32(reply[12:]) != 0:
		return h, nil, fmt.Errorf("ledger: %s reply header with reserved bits set: %w", OperationName(operation), statemachine.ErrInvalidInput)
	case uint64(len(records)) != uint64(h.Count)*TransferSize:
		return h, nil, fmt.Errorf("ledger: %s reply of %d bytes for %d records: %w", OperationName(operation), len(reply), h.Count, statemachine.ErrInvalidInput)
	case h.Result != QueryOK && (h.Count != 0 || h.More):
		return h, nil, fmt.Errorf("ledger: %s reply with result %s and records: %w", OperationName(operation), h.Result, statemachine.ErrInvalidInput)
	}
	return h, records, nil
}

// isQuery reports whether o is an account-history query.
func isQuery(o wire.Operation) bool {
	return o == OperationGetAccountTransfers || o == OperationGetAccountBalances
}

// checkFilter runs the checks of a query body that need no state.
func checkFilter(input []byte, f *AccountFilter) QueryResult {
	if len(input) != FilterSize {
		return QueryInvalidBody
	}
	f.Decode(input)
	switch {
	case f.Reserved != [24]byte{}:
		return QueryReservedField
	case f.Flags&^filterFlagsKnown != 0:
		return QueryReservedFlag
	case f.Flags&(FilterDebits|FilterCredits) == 0:
		return QueryDebitsOrCreditsRequired
	case f.AccountID.IsZero():
		return QueryAccountIDMustNotBeZero
	case f.AccountID == maxUint128:
		return QueryAccountIDMustNotBeIntMax
	}
	return QueryOK
}

// Errors returned by Validate for a query body, one per QueryResult that
// needs no state. Each wraps statemachine.ErrInvalidInput.
var queryErrors = [queryResultCount]error{
	QueryInvalidBody:              fmt.Errorf("ledger: query body is not one %d-byte filter: %w", FilterSize, statemachine.ErrInvalidInput),
	QueryReservedField:            fmt.Errorf("ledger: query filter's reserved bytes are not zero: %w", statemachine.ErrInvalidInput),
	QueryReservedFlag:             fmt.Errorf("ledger: query filter has reserved flags: %w", statemachine.ErrInvalidInput),
	QueryDebitsOrCreditsRequired:  fmt.Errorf("ledger: query filter selects neither debits nor credits: %w", statemachine.ErrInvalidInput),
	QueryAccountIDMustNotBeZero:   fmt.Errorf("ledger: query filter's account_id is zero: %w", statemachine.ErrInvalidInput),
	QueryAccountIDMustNotBeIntMax: fmt.Errorf("ledger: query filter's account_id is 2^128-1: %w", statemachine.ErrInvalidInput),
}

// validateQuery returns the Validate error of a query body.
func validateQuery(input []byte) error {
	var f AccountFilter
	if r := checkFilter(input, &f); r != QueryOK {
		return queryErrors[r]
	}
	return nil
}

// putQueryHeader writes a query reply header.
func putQueryHeader(reply []byte, r QueryResult, count int, more bool) {
	le := binary.LittleEndian
	le.PutUint32(reply[0:], uint32(r))
	le.PutUint32(reply[4:], uint32(count))
	var flags uint32
	if more {
		flags = 1
	}
	le.PutUint32(reply[8:], flags)
	le.PutUint32(reply[12:], 0)
}

// query answers get_account_transfers or get_account_balances. It only
// reads the state and does not allocate.
func (l *Ledger) query(operation wire.Operation, input, reply []byte) int {
	invariants.Assert(l.prefetching || len(reply) >= QueryHeaderSize+TransferSize, "ledger: query reply room below ReplySizeMax")
	var f AccountFilter
	r := checkFilter(input, &f)
	a, found := uint32(0), false
	if r == QueryOK {
		if a, found = l.accountIndex.get(f.AccountID); !found {
			r = QueryAccountNotFound
		} else if operation == OperationGetAccountBalances && l.accounts[a].Flags&AccountHistory == 0 {
			r = QueryAccountHistoryNotEnabled
		}
	}
	if r != QueryOK {
		if l.prefetching {
			// The account may be created by a request before this one in
			// the prepare: read what the query's timestamp searches read.
			if r == QueryAccountNotFound || r == QueryAccountHistoryNotEnabled {
				l.slotRange(f.TimestampMin, f.TimestampMax)
			}
			return 0
		}
		putQueryHeader(reply, r, 0, false)
		return QueryHeaderSize
	}
	room := (len(reply) - QueryHeaderSize) / TransferSize
	if l.prefetching {
		// Apply's room is the reply message's, unknown here: read as many
		// as a message of BatchMax records could carry (a superset of
		// what Apply reads).
		room = l.cfg.BatchMax + 1
	}
	if f.Limit != 0 && uint64(f.Limit) < uint64(room) {
		room = int(f.Limit)
	}
	lo, hi, ok := l.slotRange(f.TimestampMin, f.TimestampMax)
	count, more := 0, false
	if ok {
		var out []byte
		if !l.prefetching {
			out = reply[QueryHeaderSize:]
		}
		count, more = l.walk(operation, a, f.Flags, lo, hi, room, out)
	}
	if l.prefetching {
		return 0
	}
	putQueryHeader(reply, QueryOK, count, more)
	return QueryHeaderSize + count*TransferSize
}

// slotRange returns the slots [lo, hi] of the transfers whose timestamps lie
// in [min, max] (max 0: no upper bound), or ok false if there are none.
func (l *Ledger) slotRange(min, max uint64) (lo, hi uint32, ok bool) {
	if max == 0 {
		max = ^uint64(0)
	}
	if min > max || len(l.transfers) == 0 {
		return 0, 0, false
	}
	start := l.firstTransferAtOrAfter(min)
	end := l.firstTransferAtOrAfter(max) // the first slot past max, or the one at max
	if end < len(l.transfers) && l.transferAt(uint32(end)).Timestamp == max {
		end++
	}
	if start >= end {
		return 0, 0, false
	}
	return uint32(start), uint32(end - 1), true
}

// firstTransferAtOrAfter returns the first slot whose timestamp is at
// least ts (len(l.transfers) if none): a binary search, since transfers are
// in ascending timestamp order.
func (l *Ledger) firstTransferAtOrAfter(ts uint64) int {
	i, j := 0, len(l.transfers)
	// Over the transfers dropped from memory only when ts is among
	// theirs, so the records read depend on ts and evicted alone, not on
	// the transfers created since (Prefetch relies on it).
	if l.evicted > 0 && ts <= l.transferAt(uint32(l.evicted-1)).Timestamp {
		j = l.evicted
	} else {
		i = l.evicted
	}
	for i < j {
		h := int(uint(i+j) >> 1)
		if l.transferAt(uint32(h)).Timestamp < ts {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// walk writes up to room records of account a's transfers with slots in
// [lo, hi] on the sides flags select, in slot (= timestamp) order or
// reversed, merging the debit and the credit list. It returns the count
// written and whether more match.
func (l *Ledger) walk(operation wire.Operation, a uint32, flags FilterFlags, lo, hi uint32, room int, out []byte) (int, bool) {
	reversed := flags&FilterReversed != 0
	// cur[side] is the next position of that side in the walk, c 0 when
	// the side is done or not selected; slot[side] its transfer slot.
	var cur [2]cursor
	var slot [2]uint32
	var lists [2]*list
	var ns [2]uint32
	for side, bit := range [2]FilterFlags{FilterDebits, FilterCredits} {
		lists[side], ns[side] = l.listOf(side, a)
		if flags&bit == 0 {
			continue
		}
		if reversed {
			cur[side], _ = l.lastAtMost(lists[side], hi)
		} else {
			cur[side] = l.firstAtLeast(lists[side], lo)
		}
		if cur[side].c != 0 {
			if slot[side] = l.slotAt(lists[side], cur[side]); slot[side] < lo || slot[side] > hi {
				cur[side] = cursor{}
			}
		}
	}
	count := 0
	for cur[sideDebit].c != 0 || cur[sideCredit].c != 0 {
		// Pick the side whose next entry comes first in the walk's order.
		side := sideDebit
		switch {
		case cur[sideDebit].c == 0:
			side = sideCredit
		case cur[sideCredit].c == 0:
		case reversed == (slot[sideCredit] > slot[sideDebit]):
			side = sideCredit
		}
		if count == room {
			return count, true
		}
		p, ls := cur[side], lists[side]
		var rec []byte
		if out != nil {
			rec = out[count*TransferSize:]
		}
		l.putRecord(operation, slot[side], ns[side], p, rec)
		count++
		if reversed {
			p = l.prevEntry(ls, p)
		} else {
			p = l.nextEntry(ls, p)
		}
		if p.c != 0 {
			if slot[side] = l.slotAt(ls, p); slot[side] < lo || slot[side] > hi {
				p = cursor{}
			}
		}
		cur[side] = p
	}
	return count, false
}

// putRecord writes the record of the transfer in slot (at position p of
// list number n) for operation.
func (l *Ledger) putRecord(operation wire.Operation, slot uint32, n uint32, p cursor, out []byte) {
	t := l.transferAt(slot)
	if l.prefetching {
		return
	}
	if operation == OperationGetAccountTransfers {
		t.Encode(out)
		return
	}
	b := l.balanceAt(n, p)
	r := AccountBalance{DebitsPosted: b.debitsPosted, CreditsPosted: b.creditsPosted, Timestamp: t.Timestamp, TransferID: t.ID}
	r.Encode(out)
}
