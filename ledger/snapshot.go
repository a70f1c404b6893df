package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Snapshot layout (little-endian):
//
//	 0  8 magic "chrnldg1"
//	 8  4 version (2)
//	12  4 reserved (0)
//	16  8 commit_timestamp
//	24  4 accounts_count
//	28  4 transfers_count
//	32    transfers_count × 128-byte Transfer, ascending timestamp
//	      accounts_count × 128-byte Account, ascending timestamp
//
// The snapshot carries no checksum of its own: checkpoints store it in grid
// blocks verified by checksum, and state sync verifies the whole checkpoint.
const (
	snapshotMagic      = "chrnldg1"
	snapshotVersion    = 2
	snapshotHeaderSize = 32
)

// ErrSnapshot is wrapped by every Restore error, together with
// statemachine.ErrInvalidInput.
var ErrSnapshot = errors.New("ledger: invalid snapshot")

// Snapshot appends the state to dst: a header, the transfers and the
// accounts, each in creation order (which is ascending timestamp order,
// the same on every replica).
func (l *Ledger) Snapshot(dst []byte) []byte {
	var ends [2]int
	dst, _ = l.SnapshotOver(dst, ends[:0], 0, 0)
	return dst
}

var _ statemachine.SegmentedSnapshot = (*Ledger)(nil)

// SnapshotSegments appends the snapshot like Snapshot and cuts it in three
// segments: the header, the transfers (a log that only grows) and the
// accounts (updated in place).
func (l *Ledger) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return l.SnapshotOver(dst, ends, 0, 0)
}

// SnapshotOver implements statemachine.StableSnapshot: like
// SnapshotSegments, but when the prev bytes after len(dst) still hold the
// snapshot its previous SnapshotOver call produced there, the transfers
// that snapshot wrote are left in place instead of copied again (their
// count is read from that snapshot's header), and the first skip bytes of
// the transfers (whole records) and the ones dropped from memory are not
// written.
func (l *Ledger) SnapshotOver(dst []byte, ends []int, prev, skip int) ([]byte, []int) {
	start := len(dst)
	size := snapshotHeaderSize + TransferSize*len(l.transfers) + AccountSize*len(l.accounts)
	if skip < 0 || skip > TransferSize*len(l.transfers) {
		panic(fmt.Sprintf("ledger: snapshot skipping %d bytes of %d transfers", skip, len(l.transfers)))
	}
	unwritten := max(l.evicted, skip/TransferSize)
	kept := 0
	if prev >= snapshotHeaderSize && cap(dst)-start >= max(size, prev) {
		in := dst[start : start+prev]
		n := int(binary.LittleEndian.Uint32(in[28:]))
		if string(in[:8]) == snapshotMagic && n <= len(l.transfers) && prev >= snapshotHeaderSize+TransferSize*n {
			kept = n
		}
	}
	dst = slices.Grow(dst, size)[:start+size]
	b := dst[start:]
	copy(b, snapshotMagic)
	binary.LittleEndian.PutUint32(b[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], l.commitTimestamp)
	binary.LittleEndian.PutUint32(b[24:], uint32(len(l.accounts)))
	binary.LittleEndian.PutUint32(b[28:], uint32(len(l.transfers)))
	kept = max(kept, unwritten)
	w := snapshotHeaderSize + TransferSize*kept
	encodeTransfers(b[w:], l.transfers[kept:])
	if invariants.Enabled && kept > unwritten {
		// The transfers left in place are the ones this ledger holds.
		var rec [TransferSize]byte
		for _, i := range [...]int{unwritten, (unwritten + kept) / 2, kept - 1} {
			l.transfers[i].Encode(rec[:])
			invariants.Assert(string(rec[:]) == string(b[snapshotHeaderSize+i*TransferSize:][:TransferSize]), "ledger: a transfer left in place differs from the ledger's")
		}
	}
	w += TransferSize * (len(l.transfers) - kept)
	encodeAccounts(b[w:], l.accounts)
	w += AccountSize * len(l.accounts)
	invariants.Assert(w == len(b), "ledger: snapshot encoded to another length than its size")
	ends = append(ends, snapshotHeaderSize, snapshotHeaderSize+TransferSize*len(l.transfers))
	return dst, ends
}

// Restore replaces the state with a snapshot's. It checks every byte: the
// header, every record's fields, unique ids, strictly
// ascending and unique timestamps, that transfers reference earlier accounts
// of their ledger, and that every account's balances equal the sums of its
// transfers. On error the ledger is left empty and the error wraps
// ErrSnapshot and statemachine.ErrInvalidInput.
func (l *Ledger) Restore(snapshot []byte) error {
	return l.RestoreOmitting(snapshot, 0, nil)
}

// RestoreOmitting implements statemachine.GridBacked: Restore, reading the
// first omitted bytes of the transfers from the stable store, a unit at a
// time in order, each passed to visit (when not nil), and dropping them
// from memory again as it goes. A unit that does not read back leaves the
// ledger empty with an error wrapping statemachine.ErrStableRead (not
// ErrSnapshot: the snapshot is not known to be invalid).
func (l *Ledger) RestoreOmitting(snapshot []byte, omitted int, visit func(b []byte)) error {
	l.Reset()
	if omitted != 0 && (l.store == nil || omitted < 0 || omitted%l.evictUnit != 0 || omitted > l.store.StableHeld()) {
		panic(fmt.Sprintf("ledger: restore omitting %d bytes with a store holding %d", omitted, l.heldOrZero()))
	}
	// Restoring re-creates transfers; their effects were emitted when they
	// were first created and are in the outbox's own checkpoint.
	effects := l.cfg.Effects
	l.cfg.Effects = nil
	defer func() { l.cfg.Effects = effects }()
	// Reads of dropped transfers (a repeated id) record their error
	// instead of panicking, as in Prefetch.
	l.prefetching, l.prefetchErr = true, nil
	err := l.restore(snapshot, omitted, visit)
	l.prefetching = false
	if err == nil && l.prefetchErr != nil {
		err = fmt.Errorf("%w: %w", statemachine.ErrStableRead, l.prefetchErr)
	}
	if err != nil {
		l.Reset()
		if errors.Is(err, statemachine.ErrStableRead) {
			// Sound bytes the store could not read back: not an invalid
			// snapshot (the replica takes its checkpoint as damaged).
			return fmt.Errorf("ledger: restore: %w", err)
		}
		return fmt.Errorf("%w: %w: %w", ErrSnapshot, err, statemachine.ErrInvalidInput)
	}
	return nil
}

func (l *Ledger) restore(b []byte, omitted int, visit func([]byte)) error {
	if len(b) < snapshotHeaderSize {
		return fmt.Errorf("size %d below minimum %d", len(b), snapshotHeaderSize)
	}
	body := b
	if string(b[0:8]) != snapshotMagic {
		return errors.New("bad magic")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != snapshotVersion {
		return fmt.Errorf("version %d, want %d", v, snapshotVersion)
	}
	if binary.LittleEndian.Uint32(b[12:]) != 0 {
		return errors.New("reserved header bytes not zero")
	}
	commit := binary.LittleEndian.Uint64(b[16:])
	na := uint64(binary.LittleEndian.Uint32(b[24:]))
	nt := uint64(binary.LittleEndian.Uint32(b[28:]))
	if na > uint64(l.cfg.AccountsMax) || nt > uint64(l.cfg.TransfersMax) {
		return fmt.Errorf("%d accounts, %d transfers exceed capacity %d, %d", na, nt, l.cfg.AccountsMax, l.cfg.TransfersMax)
	}
	if uint64(len(body)) != snapshotHeaderSize+AccountSize*na+TransferSize*nt {
		return fmt.Errorf("size %d does not match %d accounts and %d transfers", len(b), na, nt)
	}
	transfers := body[snapshotHeaderSize : snapshotHeaderSize+TransferSize*nt]
	accounts := body[snapshotHeaderSize+TransferSize*nt:]
	if err := l.restoreAccounts(accounts, commit); err != nil {
		return err
	}
	if omitted > len(transfers) {
		return fmt.Errorf("%d transfer bytes omitted, the snapshot holds %d", omitted, len(transfers))
	}
	var c restoreCursor
	for from := 0; from < omitted; from += l.evictUnit {
		b, err := l.store.ReadStable(l.unitBuf[:0], from, from+l.evictUnit)
		if err != nil {
			return fmt.Errorf("%w: %w", statemachine.ErrStableRead, err)
		}
		if visit != nil {
			visit(b)
		}
		if err := l.restoreTransfers(b, commit, &c); err != nil {
			return err
		}
		l.dropTransfers(len(l.transfers))
	}
	if err := l.restoreTransfers(transfers[omitted:], commit, &c); err != nil {
		return err
	}
	if err := l.checkBalances(accounts); err != nil {
		return err
	}
	l.commitTimestamp = commit
	return nil
}

// restoreAccounts inserts the accounts with zero balances; checkBalances
// compares the snapshot's balances with the ones the transfers produce.
func (l *Ledger) restoreAccounts(b []byte, commit uint64) error {
	var prev uint64
	var a Account
	for i := 0; i < len(b)/AccountSize; i++ {
		a.Decode(b[i*AccountSize:])
		ts := a.Timestamp
		a.Timestamp = 0
		a.DebitsPosted, a.CreditsPosted = wire.Uint128{}, wire.Uint128{}
		if r := l.createAccount(0, &a); r != ResultOK {
			return fmt.Errorf("account %d: %s", i, r)
		}
		if ts <= prev || ts > commit {
			return fmt.Errorf("account %d: timestamp %d not in (%d, %d]", i, ts, prev, commit)
		}
		l.accounts[i].Timestamp = ts
		l.rehashAccount(uint32(i))
		prev = ts
	}
	return nil
}

// restoreCursor carries restoreTransfers across calls: the last
// timestamp, the accounts older than it, the transfers restored.
type restoreCursor struct {
	prev uint64
	a    int // accounts[:a] have timestamps below prev
	n    int
}

// restoreTransfers inserts and posts the transfers in b, the next ones
// after c.
func (l *Ledger) restoreTransfers(b []byte, commit uint64, c *restoreCursor) error {
	prev, a := c.prev, c.a
	defer func() { c.prev, c.a, c.n = prev, a, c.n+len(b)/TransferSize }()
	var t Transfer
	for k := 0; k < len(b)/TransferSize; k++ {
		i := c.n + k
		t.Decode(b[k*TransferSize:])
		ts := t.Timestamp
		if ts <= prev || ts > commit {
			return fmt.Errorf("transfer %d: timestamp %d not in (%d, %d]", i, ts, prev, commit)
		}
		for a < len(l.accounts) && l.accounts[a].Timestamp < ts {
			a++
		}
		if a < len(l.accounts) && l.accounts[a].Timestamp == ts {
			return fmt.Errorf("transfer %d: timestamp %d is an account's", i, ts)
		}
		t.Timestamp = 0
		n := len(l.transfers)
		if r := l.createTransfer(ts, &t); r != ResultOK {
			return fmt.Errorf("transfer %d: %s", i, r)
		}
		tr := &l.transfers[n]
		if l.accounts[l.accountSlot(tr.DebitAccountID)].Timestamp > ts ||
			l.accounts[l.accountSlot(tr.CreditAccountID)].Timestamp > ts {
			return fmt.Errorf("transfer %d: older than its accounts", i)
		}
		prev = ts
	}
	return nil
}

// checkBalances compares the balances in the snapshot's account records
// with the ones the restored transfers produced.
func (l *Ledger) checkBalances(b []byte) error {
	for i := range l.accounts {
		r := b[i*AccountSize:]
		if getUint128(r[32:]) != l.accounts[i].DebitsPosted || getUint128(r[64:]) != l.accounts[i].CreditsPosted {
			return fmt.Errorf("account %d: posted balances do not match its transfers", i)
		}
	}
	return nil
}

// accountSlot returns the slot of an account known to exist.
func (l *Ledger) accountSlot(id wire.Uint128) uint32 {
	i, _ := l.accountIndex.get(id)
	return i
}
