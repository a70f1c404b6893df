// Package ledger is Chronon's first TigerBeetle-style ledger: a deterministic
// state machine (statemachine.StateMachine) of accounts and transfers with
// fixed 128-byte little-endian records, unique ids, idempotent creates, u128
// balances with overflow checks, balance limits and lookups.
//
// Operations (wire.Operation values, see operation.go):
//
//   - create_accounts:  body N×128-byte Account, reply only the failures as
//     N×(index u32, result u32) pairs in index order;
//   - create_transfers: body N×128-byte Transfer, reply as create_accounts;
//   - lookup_accounts:  body N×16-byte ids, reply the found accounts in
//     request order (missing ids are skipped);
//   - lookup_transfers: as lookup_accounts, for transfers;
//   - get_account_transfers: body one 64-byte AccountFilter (account,
//     timestamp range, limit, debits/credits/reversed flags), reply a
//     16-byte header (QueryResult, count, more) and the account's matching
//     Transfers in timestamp order;
//   - get_account_balances: as get_account_transfers, for an account
//     created with AccountHistory: its balances after each of those
//     transfers (128-byte AccountBalance records).
//
// Each created event gets its own timestamp: for a batch of n events applied
// with Context.Timestamp T, event i (0-based) is stamped T - n + i + 1, so the
// last event carries T. The replica must therefore advance its prepare
// timestamp by at least the number of events in the prepare; Apply panics
// when T < n or when the first event's timestamp would not be above the last
// committed one (a replica bug, not bad input).
//
// Capacity is fixed by Config at construction and all memory is allocated
// then. A full table is reported per event as ResultFull. Apply does not
// allocate. Two-phase (pending) transfers, linked chains and balancing
// transfers are not implemented yet: their flags are rejected with
// ResultFlagNotSupported, and the records keep the fields
// they will need (debits_pending, credits_pending, pending_id, timeout).
//
// Encodings, result codes and benchmark numbers are documented in
// docs/state-machines.md.
package ledger
