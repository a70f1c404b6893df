package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// randomLedger builds a ledger from seeded random accounts and transfers.
func randomLedger(t testing.TB, seed uint64, accounts, transfers int) *harness {
	h := newHarness(t, Config{AccountsMax: accounts, TransfersMax: transfers})
	rng := rand.New(rand.NewPCG(seed, 1))
	var as []Account
	for i := range accounts {
		a := account(uint64(i + 1))
		switch rng.IntN(4) {
		case 0:
			a.Flags = AccountDebitsMustNotExceedCredits
		case 1:
			a.Flags = AccountCreditsMustNotExceedDebits
		}
		a.UserData64 = rng.Uint64()
		as = append(as, a)
	}
	h.createAccounts(as...)
	var ts []Transfer
	for i := range transfers {
		dr := rng.Uint64N(uint64(accounts)) + 1
		cr := rng.Uint64N(uint64(accounts)) + 1
		ts = append(ts, transfer(uint64(i+1), dr, cr, rng.Uint64N(1000)+1))
	}
	h.createTransfers(ts...)
	return h
}

func TestSnapshotRestore(t *testing.T) {
	h := randomLedger(t, 1, 50, 500)
	if h.l.TransfersCount() == 0 {
		t.Fatal("no transfers succeeded")
	}
	snap := h.l.Snapshot(nil)
	r := newHarness(t, h.l.Config())
	r.createAccounts(account(999)) // state to be replaced
	if err := r.l.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r.l.Digest() != h.l.Digest() {
		t.Fatal("restored digest differs")
	}
	if again := r.l.Snapshot([]byte("prefix")); !bytes.Equal(again[6:], snap) || string(again[:6]) != "prefix" {
		t.Fatal("snapshot of restored ledger differs")
	}
	// Same answers and same future.
	r.ctx = h.ctx
	for i := uint64(1); i <= 50; i++ {
		a, _ := h.l.Account(id(i))
		b, _ := r.l.Account(id(i))
		if a != b {
			t.Fatalf("account %d differs", i)
		}
	}
	ts := []Transfer{transfer(10_000, 1, 2, 1), transfer(10_001, 3, 4, 7), transfer(1, 1, 2, 5)}
	h.l.cfg.TransfersMax++
	r.l.cfg.TransfersMax++
	if a, b := h.createTransfers(ts...), r.createTransfers(ts...); len(a) != len(b) || h.l.Digest() != r.l.Digest() {
		t.Fatalf("diverged after restore: %v vs %v", a, b)
	}
}

// TestSnapshotUntouchedAccounts restores accounts that no transfer touched,
// so their digest contribution comes from the restore alone.
func TestSnapshotUntouchedAccounts(t *testing.T) {
	for _, transfers := range []int{1, 3} {
		h := randomLedger(t, 3, 40, transfers)
		r := newHarness(t, h.l.Config())
		if err := r.l.Restore(h.l.Snapshot(nil)); err != nil {
			t.Fatal(err)
		}
		if r.l.Digest() != h.l.Digest() || r.l.sum != sumOf(r.l) {
			t.Fatalf("%d transfers: restored digest differs", transfers)
		}
	}
}

func TestSnapshotEmpty(t *testing.T) {
	h := newHarness(t, testConfig)
	r := newHarness(t, testConfig)
	r.createAccounts(account(1))
	if err := r.l.Restore(h.l.Snapshot(nil)); err != nil {
		t.Fatal(err)
	}
	if r.l.Digest() != h.l.Digest() || r.l.AccountsCount() != 0 {
		t.Fatal("empty restore")
	}
}

func checkRestoreError(t *testing.T, l *Ledger, snap []byte, what string) {
	t.Helper()
	err := l.Restore(snap)
	if err == nil {
		t.Fatalf("%s: Restore accepted", what)
	}
	if !errors.Is(err, statemachine.ErrInvalidInput) || !errors.Is(err, ErrSnapshot) {
		t.Fatalf("%s: error %v does not wrap ErrInvalidInput and ErrSnapshot", what, err)
	}
	if l.AccountsCount() != 0 || l.TransfersCount() != 0 || l.CommitTimestamp() != 0 {
		t.Fatalf("%s: failed Restore left state", what)
	}
}

func TestRestoreCorrupted(t *testing.T) {
	h := randomLedger(t, 2, 4, 6)
	snap := h.l.Snapshot(nil)
	l := newHarness(t, h.l.Config()).l
	// The snapshot has no checksum of its own (the journal's grid blocks
	// and state sync's checkpoint checksum cover it): a flip in a record's
	// free-form field restores. Flips in the header's magic, version,
	// reserved bytes and counts do not.
	for _, i := range []int{0, 7, 8, 11, 12, 15, 24, 27, 28, 31} {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(snap)
			c[i] ^= bit
			checkRestoreError(t, l, c, "bit flip")
		}
	}
	for n := range len(snap) {
		checkRestoreError(t, l, snap[:n], "truncated")
	}
	checkRestoreError(t, l, append(bytes.Clone(snap), 0), "extended")
}

// reseal returns a modified snapshot as Restore reads it (snapshots have
// no checksum of their own).
func reseal(b []byte) []byte { return b }

func TestRestoreInvalidContents(t *testing.T) {
	h := transferSetup(t) // 5 accounts, 1 transfer (1 → 2, 10)
	h.createTransfer(transfer(2, 2, 1, 3))
	snap := h.l.Snapshot(nil)
	tr := func(i int) int { return snapshotHeaderSize + i*TransferSize }
	acc := func(i int) int { return snapshotHeaderSize + 2*TransferSize + i*AccountSize }
	tests := []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[0] = 'X' }},
		{"version", func(b []byte) { b[8] = 1 }},
		{"reserved", func(b []byte) { b[12] = 1 }},
		{"accounts count", func(b []byte) { b[24] = 4 }},
		{"transfers count", func(b []byte) { b[28] = 3 }},
		{"capacity", func(b []byte) { binary.LittleEndian.PutUint32(b[24:], 1<<30) }},
		{"commit timestamp", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 1) }},
		{"duplicate account", func(b []byte) { copy(b[acc(1):acc(1)+16], b[acc(0):]) }},
		{"account id zero", func(b []byte) { clear(b[acc(1) : acc(1)+16]) }},
		{"account reserved", func(b []byte) { b[acc(1)+108] = 1 }},
		{"account flags", func(b []byte) { b[acc(1)+118] = 0xff }},
		{"account ledger", func(b []byte) { clear(b[acc(1)+112 : acc(1)+116]) }},
		{"account pending", func(b []byte) { b[acc(1)+16] = 1 }},
		{"account debits", func(b []byte) { b[acc(0)+32]++ }},
		{"account credits", func(b []byte) { b[acc(1)+64]++ }},
		{"account timestamp order", func(b []byte) {
			binary.LittleEndian.PutUint64(b[acc(1)+120:], binary.LittleEndian.Uint64(b[acc(0)+120:]))
		}},
		{"account timestamp zero", func(b []byte) { clear(b[acc(0)+120 : acc(0)+128]) }},
		{"duplicate transfer", func(b []byte) { copy(b[tr(1):tr(1)+16], b[tr(0):]) }},
		{"transfer unknown account", func(b []byte) { b[tr(0)+16] = 77 }},
		{"transfer amount zero", func(b []byte) { clear(b[tr(0)+48 : tr(0)+64]) }},
		{"transfer flags", func(b []byte) { b[tr(0)+118] = 1 }},
		{"transfer timestamp order", func(b []byte) {
			binary.LittleEndian.PutUint64(b[tr(1)+120:], binary.LittleEndian.Uint64(b[tr(0)+120:]))
		}},
		{"transfer timestamp of an account", func(b []byte) {
			binary.LittleEndian.PutUint64(b[tr(0)+120:], binary.LittleEndian.Uint64(b[acc(4)+120:]))
		}},
		{"transfer older than account", func(b []byte) {
			binary.LittleEndian.PutUint64(b[tr(0)+120:], binary.LittleEndian.Uint64(b[acc(0)+120:])+1)
		}},
	}
	l := newHarness(t, testConfig).l
	if err := l.Restore(snap); err != nil {
		t.Fatalf("unmodified: %v", err)
	}
	for _, tt := range tests {
		c := bytes.Clone(snap)
		tt.edit(c)
		checkRestoreError(t, l, reseal(c), tt.name)
	}
}

// TestSnapshotOverLeavesTransfersInPlace: a snapshot taken over the
// previous one in the same buffer equals a fresh snapshot, whether accounts
// and transfers were added in between, and after a Restore (which forgets
// what was in place); AppendSnapshotRange gives the transfers segment's
// bytes.
func TestSnapshotOverLeavesTransfersInPlace(t *testing.T) {
	h := newHarness(t, testConfig)
	for i := range 4 {
		h.createAccount(account(uint64(i + 1)))
	}
	for i := range 6 {
		h.createTransfer(transfer(uint64(i+1), uint64(i%4+1), uint64((i+1)%4+1), uint64(i+1)))
	}
	buf := make([]byte, 16, 1<<20)
	prev := 0
	var ends [4]int
	check := func(what string) {
		t.Helper()
		var got []byte
		var segs []int
		got, segs = h.l.SnapshotOver(buf[:16], ends[:0], prev, 0)
		want := h.l.Snapshot(nil)
		if !bytes.Equal(got[16:], want) {
			t.Fatalf("%s: snapshot over the previous one differs from a fresh one", what)
		}
		if len(segs) != 2 || segs[0] != snapshotHeaderSize || segs[1] != snapshotHeaderSize+TransferSize*h.l.TransfersCount() {
			t.Fatalf("%s: segments %v", what, segs)
		}
		seg, n := h.l.SnapshotStable()
		if r := h.l.AppendSnapshotRange(nil, 0, n); seg != 1 || !bytes.Equal(r, want[segs[0]:segs[1]]) {
			t.Fatalf("%s: stable range differs from the transfers segment", what)
		}
		prev = len(got) - 16
	}
	check("first")
	for i := range 3 {
		if r := h.createAccount(account(uint64(100 + i))); r != ResultOK {
			t.Fatalf("account: %s", r)
		}
		if r := h.createTransfer(transfer(uint64(200+i), uint64(100+i), 1, 1)); r != ResultOK {
			t.Fatalf("transfer: %s", r)
		}
		check("after more")
	}
	snap := h.l.Snapshot(nil)
	if err := h.l.Restore(snap); err != nil {
		t.Fatal(err)
	}
	// Restored: the caller promises nothing in place (the replica's
	// checkpoint buffer after a restore).
	clear(buf[16+snapshotHeaderSize : 16+snapshotHeaderSize+TransferSize])
	prev = 0
	check("after a restore")
}

// TestSnapshotOverSkips: SnapshotOver leaves the skipped transfers
// unwritten and everything after them as a fresh snapshot has it; a later
// call skipping fewer writes again what the earlier one skipped.
func TestSnapshotOverSkips(t *testing.T) {
	h := newHarness(t, testConfig)
	for i := range 4 {
		h.createAccount(account(uint64(i + 1)))
	}
	next := uint64(1)
	more := func(n int) {
		for range n {
			if r := h.createTransfer(transfer(next, next%4+1, (next+1)%4+1, next)); r != ResultOK {
				t.Fatalf("transfer: %s", r)
			}
			next++
		}
	}
	buf := make([]byte, 16, 1<<20)
	prev := 0
	var ends [4]int
	check := func(what string, skip int) {
		t.Helper()
		// Poison: skipped bytes must not be read, the rest must be written.
		for i := 16; i < cap(buf); i += 4096 {
			if i >= 16+snapshotHeaderSize+skip && i >= 16+prev {
				buf[:cap(buf)][i] = 0xa5
			}
		}
		got, _ := h.l.SnapshotOver(buf[:16], ends[:0], prev, skip)
		want := h.l.Snapshot(nil)
		at := snapshotHeaderSize + skip
		if !bytes.Equal(got[16:16+snapshotHeaderSize], want[:snapshotHeaderSize]) || !bytes.Equal(got[16+at:], want[at:]) {
			t.Fatalf("%s: snapshot skipping %d bytes differs from a fresh one after them", what, skip)
		}
		prev = len(got) - 16
	}
	more(40)
	check("first", 10*TransferSize)
	more(40)
	check("skipping more", 30*TransferSize)
	// Fewer skipped than before: the caller promises nothing in place
	// (statemachine.StableSnapshot), and the ones between are written.
	clear(buf[16+snapshotHeaderSize : 16+snapshotHeaderSize+30*TransferSize])
	prev = 0
	check("skipping fewer", 5*TransferSize)
	prev = 0
	check("none skipped", 0)
}
