package client

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// CreateAccounts creates accounts and returns the failures (index into
// accounts, result); an empty slice means every account was created (or
// already existed with the same fields). Concurrent calls share requests.
func (c *Client) CreateAccounts(ctx context.Context, accounts []ledger.Account) ([]ledger.EventResult, error) {
	body := make([]byte, 0, len(accounts)*ledger.AccountSize)
	for i := range accounts {
		body = ledger.AppendAccount(body, &accounts[i])
	}
	reply, err := c.Submit(ctx, ledger.OperationCreateAccounts, body, splitCreateResults(ledger.AccountSize))
	if err != nil {
		return nil, err
	}
	return decodeEventResults(reply)
}

// CreateTransfers creates transfers and returns the failures, as
// CreateAccounts does.
func (c *Client) CreateTransfers(ctx context.Context, transfers []ledger.Transfer) ([]ledger.EventResult, error) {
	body := make([]byte, 0, len(transfers)*ledger.TransferSize)
	for i := range transfers {
		body = ledger.AppendTransfer(body, &transfers[i])
	}
	reply, err := c.Submit(ctx, ledger.OperationCreateTransfers, body, splitCreateResults(ledger.TransferSize))
	if err != nil {
		return nil, err
	}
	return decodeEventResults(reply)
}

// LookupAccounts returns the accounts with the given ids that exist, in the
// order of ids.
func (c *Client) LookupAccounts(ctx context.Context, ids []wire.Uint128) ([]ledger.Account, error) {
	reply, err := c.Submit(ctx, ledger.OperationLookupAccounts, encodeIDs(ids), splitLookups(ledger.AccountSize))
	if err != nil {
		return nil, err
	}
	if len(reply)%ledger.AccountSize != 0 {
		return nil, fmt.Errorf("%w: lookup_accounts reply of %d bytes", ErrInvalidReply, len(reply))
	}
	out := make([]ledger.Account, len(reply)/ledger.AccountSize)
	for i := range out {
		out[i].Decode(reply[i*ledger.AccountSize:])
	}
	return out, nil
}

// LookupTransfers returns the transfers with the given ids that exist, in
// the order of ids.
func (c *Client) LookupTransfers(ctx context.Context, ids []wire.Uint128) ([]ledger.Transfer, error) {
	reply, err := c.Submit(ctx, ledger.OperationLookupTransfers, encodeIDs(ids), splitLookups(ledger.TransferSize))
	if err != nil {
		return nil, err
	}
	if len(reply)%ledger.TransferSize != 0 {
		return nil, fmt.Errorf("%w: lookup_transfers reply of %d bytes", ErrInvalidReply, len(reply))
	}
	out := make([]ledger.Transfer, len(reply)/ledger.TransferSize)
	for i := range out {
		out[i].Decode(reply[i*ledger.TransferSize:])
	}
	return out, nil
}

func encodeIDs(ids []wire.Uint128) []byte {
	body := make([]byte, 0, len(ids)*16)
	for _, id := range ids {
		body = ledger.AppendID(body, id)
	}
	return body
}

const eventResultSize = 8

func decodeEventResults(reply []byte) ([]ledger.EventResult, error) {
	if len(reply)%eventResultSize != 0 {
		return nil, fmt.Errorf("%w: create reply of %d bytes", ErrInvalidReply, len(reply))
	}
	out := make([]ledger.EventResult, len(reply)/eventResultSize)
	for i := range out {
		out[i] = ledger.DecodeEventResult(reply[i*eventResultSize:])
	}
	return out, nil
}

// splitCreateResults splits a create reply — (index u32, result u32) pairs
// for the failed events of the whole request — into per-call replies whose
// indexes count from each call's first event.
func splitCreateResults(eventSize int) Splitter {
	return func(_, reply []byte, bounds []int) ([][]byte, error) {
		if len(reply)%eventResultSize != 0 {
			return nil, fmt.Errorf("%w: create reply of %d bytes", ErrInvalidReply, len(reply))
		}
		parts := make([][]byte, len(bounds)-1)
		k := 0
		for off := 0; off < len(reply); off += eventResultSize {
			index := int(binary.LittleEndian.Uint32(reply[off:]))
			for k < len(parts) && index >= bounds[k+1]/eventSize {
				k++
			}
			if k == len(parts) {
				return nil, fmt.Errorf("%w: result for event %d beyond the request", ErrInvalidReply, index)
			}
			var pair [eventResultSize]byte
			binary.LittleEndian.PutUint32(pair[0:], uint32(index-bounds[k]/eventSize))
			copy(pair[4:], reply[off+4:off+8])
			parts[k] = append(parts[k], pair[:]...)
		}
		return parts, nil
	}
}

// splitLookups splits a lookup reply — the found records in request order —
// by matching each record's id (its first 16 bytes) against the ids of the
// request.
func splitLookups(recordSize int) Splitter {
	return func(request, reply []byte, bounds []int) ([][]byte, error) {
		if len(reply)%recordSize != 0 {
			return nil, fmt.Errorf("%w: lookup reply of %d bytes", ErrInvalidReply, len(reply))
		}
		parts := make([][]byte, len(bounds)-1)
		next := 0 // byte offset of the next request id to match
		for off := 0; off < len(reply); off += recordSize {
			id := reply[off : off+16]
			for next < len(request) && string(request[next:next+16]) != string(id) {
				next += 16
			}
			if next >= len(request) {
				return nil, fmt.Errorf("%w: lookup returned an id that was not requested", ErrInvalidReply)
			}
			k := 0
			for next >= bounds[k+1] {
				k++
			}
			parts[k] = append(parts[k], reply[off:off+recordSize]...)
			next += 16
		}
		return parts, nil
	}
}

// AccountTransfers returns one page of the transfers of f.AccountID that
// f selects (debits, credits or both, timestamps in [f.TimestampMin,
// f.TimestampMax], 0 meaning unbounded), in ascending timestamp order or
// descending with ledger.FilterReversed, at most f.Limit of them (0: as
// many as fit one reply). more says that more transfers match: ask again
// with f.After(last transfer's Timestamp), or use AllAccountTransfers.
// A malformed filter gives ledger.Validate's error (wrapping
// statemachine.ErrInvalidInput) without a request; an unknown account
// gives a *QueryError with ledger.QueryAccountNotFound.
//
// The query goes through consensus like a lookup: it sees every transfer
// committed before it.
func (c *Client) AccountTransfers(ctx context.Context, f ledger.AccountFilter) (transfers []ledger.Transfer, more bool, err error) {
	records, more, err := c.accountQuery(ctx, ledger.OperationGetAccountTransfers, f)
	if err != nil {
		return nil, false, err
	}
	transfers = make([]ledger.Transfer, len(records)/ledger.TransferSize)
	for i := range transfers {
		transfers[i].Decode(records[i*ledger.TransferSize:])
	}
	return transfers, more, nil
}

// AccountBalances returns one page of the balance history of f.AccountID,
// an account created with ledger.AccountHistory: its balances after each
// transfer f selects, as AccountTransfers pages transfers. An account
// without history gives a *QueryError with
// ledger.QueryAccountHistoryNotEnabled.
func (c *Client) AccountBalances(ctx context.Context, f ledger.AccountFilter) (balances []ledger.AccountBalance, more bool, err error) {
	records, more, err := c.accountQuery(ctx, ledger.OperationGetAccountBalances, f)
	if err != nil {
		return nil, false, err
	}
	balances = make([]ledger.AccountBalance, len(records)/ledger.AccountBalanceSize)
	for i := range balances {
		balances[i].Decode(records[i*ledger.AccountBalanceSize:])
	}
	return balances, more, nil
}

// AllAccountTransfers pages through every transfer f selects with
// AccountTransfers (f.Limit is the page size), yielding them in order; it
// stops at the first error, which it yields. Each page is a separate
// query, so a page sees the transfers committed before it: paging forward,
// transfers created meanwhile (with later timestamps) are included.
func (c *Client) AllAccountTransfers(ctx context.Context, f ledger.AccountFilter) iter.Seq2[ledger.Transfer, error] {
	return func(yield func(ledger.Transfer, error) bool) {
		for {
			page, more, err := c.AccountTransfers(ctx, f)
			if err != nil {
				yield(ledger.Transfer{}, err)
				return
			}
			for _, t := range page {
				if !yield(t, nil) {
					return
				}
			}
			if !more || len(page) == 0 {
				return
			}
			f = f.After(page[len(page)-1].Timestamp)
		}
	}
}

// AllAccountBalances pages through the balance history f selects, as
// AllAccountTransfers does.
func (c *Client) AllAccountBalances(ctx context.Context, f ledger.AccountFilter) iter.Seq2[ledger.AccountBalance, error] {
	return func(yield func(ledger.AccountBalance, error) bool) {
		for {
			page, more, err := c.AccountBalances(ctx, f)
			if err != nil {
				yield(ledger.AccountBalance{}, err)
				return
			}
			for _, b := range page {
				if !yield(b, nil) {
					return
				}
			}
			if !more || len(page) == 0 {
				return
			}
			f = f.After(page[len(page)-1].Timestamp)
		}
	}
}

// accountQuery sends one account-history query (never coalesced) and
// returns the reply's records.
func (c *Client) accountQuery(ctx context.Context, op wire.Operation, f ledger.AccountFilter) ([]byte, bool, error) {
	body := ledger.AppendFilter(make([]byte, 0, ledger.FilterSize), &f)
	if err := ledger.Validate(0, op, body); err != nil {
		return nil, false, err
	}
	reply, err := c.Request(ctx, op, body)
	if err != nil {
		return nil, false, err
	}
	h, records, err := ledger.DecodeQueryReply(op, reply)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidReply, err)
	}
	if h.Result != ledger.QueryOK {
		return nil, false, &QueryError{Result: h.Result}
	}
	return records, h.More, nil
}
