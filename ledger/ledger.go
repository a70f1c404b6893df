package ledger

import (
	"encoding/binary"
	"github.com/chronon-db/chronon/internal/invariants"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// Seeds of the per-record hashes, so that an account and a transfer with
// the same bytes contribute differently to the digest.
const (
	seedAccount  = 1
	seedTransfer = 2
	seedDigest   = 3
)

// Ledger is the ledger state machine. It is not safe for concurrent use: the
// replica calls it from its event loop only.
type Ledger struct {
	// effectPayload holds a transfer's encoding for its effect.
	effectPayload [TransferSize]byte
	cfg           Config

	// accounts and transfers hold the records in creation (= timestamp)
	// order; the indexes map id → slot. All are allocated with their full
	// capacity by New, so inserts never grow them.
	accounts      []Account
	accountHashes []wire.Uint128
	accountIndex  index
	// accountStale marks the accounts changed since their hash in
	// accountHashes (and in sum) was taken, listed once each in
	// staleAccounts; Digest rehashes them, and so does the change that
	// would list more than staleAccountsMax (so a digest costs at most
	// that many hashes). A hot account changed by many transfers is hashed
	// once per flush, not once per transfer.
	accountStale  []bool
	staleAccounts []uint32
	transfers     []Transfer
	transferIndex index

	// With a stable store (stable.go): transfers[:evicted] are dropped
	// from memory and read back through store, in units of evictUnit
	// bytes. Prefetch reads with prefetching set, keeping the first error
	// in prefetchErr; readBuf and scratch hold records read back.
	store       statemachine.StableStore
	evicted     int
	evictUnit   int
	prefetching bool
	prefetchErr error
	readBuf     [TransferSize]byte
	scratch     [scratchRecords]Transfer
	scratchNext int
	unitBuf     []byte // evictUnit bytes: Restore reads the store in units
	// fetched holds what the prefetch of the current prepare read;
	// fetchedOverflow is set when it did not fit.
	fetched         fetchTable
	fetchedOverflow bool

	// The history index (history.go): per account and side, its transfers
	// in timestamp order, and the balance history of accounts with
	// AccountHistory. Derived state: not snapshotted, not in the digest.
	chunks       []chunk
	lists        []list // 2 per account: debit, credit
	balances     []balance
	tailBalances []balance

	// sum is the sum modulo 2^128 of all record hashes.
	sum wire.Uint128
	// commitTimestamp is the timestamp of the last applied create batch.
	commitTimestamp uint64
	// warmSink keeps warm's loads observable (never read).
	warmSink uint64
	// refusedFull counts events refused with ResultFull (not state: it is
	// neither snapshotted nor reset).
	refusedFull uint64
}

var _ statemachine.StateMachine = (*Ledger)(nil)

// New returns an empty ledger with all memory for cfg's capacity allocated.
func New(cfg Config) (*Ledger, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	l := &Ledger{
		cfg:           cfg,
		accounts:      make([]Account, 0, cfg.AccountsMax),
		accountHashes: make([]wire.Uint128, 0, cfg.AccountsMax),
		accountStale:  make([]bool, cfg.AccountsMax),
		staleAccounts: make([]uint32, 0, min(cfg.AccountsMax, staleAccountsMax)),
		transfers:     make([]Transfer, 0, cfg.TransfersMax),
		chunks:        make([]chunk, 0, chunksMax(cfg.TransfersMax)),
		lists:         make([]list, 2*cfg.AccountsMax),
		// One entry per chunk slot and per list header slot; only the
		// entries of accounts with AccountHistory are written, and the
		// pages no one writes are never backed by memory (see
		// docs/decisions.md).
		balances:     make([]balance, chunkSlots*chunksMax(cfg.TransfersMax)),
		tailBalances: make([]balance, chunkSlots*2*cfg.AccountsMax),
	}
	l.accountIndex = newIndex(cfg.AccountsMax, cfg.HashSeed, (*accountIDs)(l))
	l.transferIndex = newIndex(cfg.TransfersMax, cfg.HashSeed^0x9e3779b97f4a7c15, (*transferIDs)(l))
	return l, nil
}

// Config returns the configuration the ledger was built with, defaults
// filled in.
func (l *Ledger) Config() Config { return l.cfg }

// Reset empties the ledger without releasing memory.
func (l *Ledger) Reset() {
	clear(l.lists[:2*len(l.accounts)])
	l.accounts = l.accounts[:0]
	l.accountHashes = l.accountHashes[:0]
	l.accountIndex.reset()
	clear(l.accountStale)
	l.staleAccounts = l.staleAccounts[:0]
	if l.evicted > 0 {
		// The pages given back read as zeros: nothing to clear.
		l.evicted = 0
	}
	l.transfers = l.transfers[:0]
	l.transferIndex.reset()
	l.chunks = l.chunks[:0]
	l.sum = wire.Uint128{}
	l.commitTimestamp = 0
}

// SnapshotSizeMax returns the length of the snapshot of a ledger holding
// AccountsMax accounts and TransfersMax transfers.
func (l *Ledger) SnapshotSizeMax() int {
	return SnapshotSizeMax(l.cfg.AccountsMax, l.cfg.TransfersMax)
}

// SnapshotSizeMax returns the length of the snapshot of a ledger holding
// the given numbers of accounts and transfers.
func SnapshotSizeMax(accounts, transfers int) int {
	return snapshotHeaderSize + AccountSize*accounts + TransferSize*transfers
}

// Capacity reports the records held, the most the ledger can hold and the
// events refused with ResultFull since this ledger was made.
func (l *Ledger) Capacity() statemachine.Capacity {
	return statemachine.Capacity{
		Records:     uint64(len(l.accounts) + len(l.transfers)),
		RecordsMax:  uint64(l.cfg.AccountsMax + l.cfg.TransfersMax),
		RefusedFull: l.refusedFull,
	}
}

// AccountsCount returns the number of accounts.
func (l *Ledger) AccountsCount() int { return len(l.accounts) }

// TransfersCount returns the number of transfers.
func (l *Ledger) TransfersCount() int { return len(l.transfers) }

// CommitTimestamp returns the timestamp of the last applied create batch.
func (l *Ledger) CommitTimestamp() uint64 { return l.commitTimestamp }

// Account returns the account with the given id.
func (l *Ledger) Account(id wire.Uint128) (Account, bool) {
	i, ok := l.accountIndex.get(id)
	if !ok {
		return Account{}, false
	}
	return l.accounts[i], true
}

// Transfer returns the transfer with the given id.
func (l *Ledger) Transfer(id wire.Uint128) (Transfer, bool) {
	// Outside a prepare (tests, tools), reads of dropped transfers go to
	// the store as a prefetch's do; one that fails reports not found.
	invariants.Assert(!l.prefetching, "ledger: Transfer called inside a prefetch")
	l.prefetching, l.prefetchErr = true, nil
	defer func() {
		// What it read is not a prepare's: the next prepare's table starts empty.
		l.prefetching = false
		l.fetched.reset()
		l.fetchedOverflow = false
	}()
	i, ok := l.transferIndex.get(id)
	if !ok || l.prefetchErr != nil {
		return Transfer{}, false
	}
	t, err := l.readTransfer(i)
	if err != nil {
		return Transfer{}, false
	}
	return *t, true
}

// Digest returns a checksum of the whole state: the sum modulo 2^128 of the
// xxh3-128 hashes of every encoded account and transfer (maintained on
// every change), mixed with the counts and the commit timestamp. The sum
// is independent of insertion order, and since it is a sum rather than an
// XOR, equal records never cancel out.
func (l *Ledger) Digest() wire.Uint128 {
	l.rehashStale()
	var b [32]byte
	putUint128(b[0:], l.sum)
	binary.LittleEndian.PutUint64(b[16:], l.commitTimestamp)
	binary.LittleEndian.PutUint32(b[24:], uint32(len(l.accounts)))
	binary.LittleEndian.PutUint32(b[28:], uint32(len(l.transfers)))
	h := xxh3.Hash128Seed(b[:], seedDigest)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

func hashAccount(a *Account) wire.Uint128 {
	var b [AccountSize]byte
	a.Encode(b[:])
	h := xxh3.Hash128Seed(b[:], seedAccount)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

func hashTransfer(t *Transfer) wire.Uint128 {
	var b [TransferSize]byte
	t.Encode(b[:])
	h := xxh3.Hash128Seed(b[:], seedTransfer)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

// insertAccount appends a, whose id is new and goes at index position pos,
// and adds it to the digest. The caller checked capacity.
func (l *Ledger) insertAccount(pos uint64, a *Account) {
	h := hashAccount(a)
	l.accountIndex.insert(pos, a.ID, uint32(len(l.accounts)))
	l.accounts = append(l.accounts, *a)
	l.accountHashes = append(l.accountHashes, h)
	l.sum = wrapAdd128(l.sum, h)
}

// rehashAccount notes that slot i changed: its hash in the digest is
// replaced when the digest is next taken (rehashStale).
func (l *Ledger) rehashAccount(i uint32) {
	if l.accountStale[i] {
		return
	}
	if len(l.staleAccounts) == cap(l.staleAccounts) {
		l.rehashStale()
	}
	invariants.Assert(int(i) < len(l.accounts) && len(l.staleAccounts) < cap(l.staleAccounts), "ledger: stale mark of an account that does not exist")
	l.accountStale[i] = true
	l.staleAccounts = append(l.staleAccounts, i)
}

// staleAccountsMax bounds the accounts waiting to be rehashed.
const staleAccountsMax = 1 << 16

// rehashStale replaces the hash of every account changed since the last
// digest in the digest's sum.
func (l *Ledger) rehashStale() {
	for _, i := range l.staleAccounts {
		invariants.Assert(l.accountStale[i], "ledger: listed account not marked stale")
		h := hashAccount(&l.accounts[i])
		l.sum = wrapAdd128(sub128(l.sum, l.accountHashes[i]), h)
		l.accountHashes[i] = h
		l.accountStale[i] = false
	}
	l.staleAccounts = l.staleAccounts[:0]
}

// insertTransfer appends t, whose id is new and goes at index position pos,
// and adds it to the digest. The caller checked capacity.
func (l *Ledger) insertTransfer(pos uint64, t *Transfer) {
	h := hashTransfer(t)
	l.transferIndex.insert(pos, t.ID, uint32(len(l.transfers)))
	l.transfers = append(l.transfers, *t)
	l.sum = wrapAdd128(l.sum, h)
}
