package ledger

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// The history index lists, for every account and side (debit, credit), the
// account's transfers on that side in ascending timestamp order. Transfers
// are stored in ascending timestamp order (l.transfers), so a transfer's
// slot orders it as its timestamp does, and a list is a sequence of slots
// that only ever grows at its end.
//
// A list is a doubly linked chain of full 64-byte chunks of chunkSlots
// slots, taken in order from one pool (l.chunks), followed by its last
// 0..chunkSlots-1 slots in the list's own 64-byte header (l.lists), where
// appends go: an append writes one slot into one cache line, and one in
// chunkSlots moves the full header's slots into a new chunk. Each chunk
// also holds a jump pointer to an earlier chunk of its list (Myers'
// skew-binary jump pointers), so the walk back from the last chunk to the
// one holding a given slot takes O(log n) steps: a narrow timestamp range
// costs O(log n), not the account's whole history.
//
// Accounts created with AccountHistory also get, for each entry, the
// account's balances right after that transfer: in l.balances at the
// entry's chunk position (chunk*chunkSlots + index), or in l.tailBalances
// while the entry is in the list's header.
//
// Chunk ids are stored as id+1, 0 meaning none. All of it is derived from
// the accounts and transfers: it is neither snapshotted nor in the digest,
// and Restore rebuilds it by re-creating the transfers in timestamp order.

// Sides of a transfer for an account.
const (
	sideDebit  = 0
	sideCredit = 1
)

// chunkSlots is the number of transfer slots in a chunk and in a list's
// header (both are 64 bytes).
const chunkSlots = 12

// chunk is a full piece of one account's list for one side.
type chunk struct {
	prev, next uint32 // neighbours in the list (id+1, 0: none)
	jump       uint32 // an earlier chunk of the list (id+1); the first jumps to itself
	jumpLen    uint32 // number of chunks the jump skips back (0 for the first)
	slots      [chunkSlots]uint32
}

// list is one account's list for one side: its first and last full
// chunks (id+1, 0: none) and the fill slots that follow the last one.
type list struct {
	head, last uint32
	fill       uint32
	_          uint32
	slots      [chunkSlots]uint32
}

// tailChunk is the cursor chunk value of a list's header.
const tailChunk = ^uint32(0)

// balance is an account's posted balances right after one transfer.
// Pending balances are always zero (two-phase transfers are not supported).
type balance struct {
	debitsPosted, creditsPosted wire.Uint128
}

// chunksMax is the most full chunks the lists of transfers transfers can
// fill: two entries per transfer.
func chunksMax(transfers int) int {
	return 2 * transfers / chunkSlots
}

// indexTransfer appends the transfer in slot to the debit list of its
// debit account and the credit list of its credit account (slots di and
// ci, records dr and cr, whose balances already include it). Both appends
// write one slot into their list's header, loaded side by side; the rare
// work (balance history, a full header) is in appendRare.
func (l *Ledger) indexTransfer(slot uint32, di, ci uint32, dr, cr *Account) {
	dn, cn := 2*di+sideDebit, 2*ci+sideCredit
	dl, cl := &l.lists[dn], &l.lists[cn]
	i, j := dl.fill, cl.fill
	dl.slots[i] = slot
	dl.fill = i + 1
	cl.slots[j] = slot
	cl.fill = j + 1
	if dr.Flags&AccountHistory != 0 || i+1 == chunkSlots {
		l.appendRare(dl, dn, dr, i)
	}
	if cr.Flags&AccountHistory != 0 || j+1 == chunkSlots {
		l.appendRare(cl, cn, cr, j)
	}
}

// appendRare records the balance history of the entry just appended at
// index i of list number n (ls) and moves a full header into a chunk.
func (l *Ledger) appendRare(ls *list, n uint32, acc *Account, i uint32) {
	history := acc.Flags&AccountHistory != 0
	if history {
		l.tailBalances[n*chunkSlots+i] = balance{debitsPosted: acc.DebitsPosted, creditsPosted: acc.CreditsPosted}
	}
	if ls.fill == chunkSlots {
		l.flush(ls, n, history)
	}
}

// flush moves the full header ls (list number n) into a new chunk.
func (l *Ledger) flush(ls *list, n uint32, history bool) {
	invariants.Assert(len(l.chunks) < cap(l.chunks), "ledger: history chunks beyond chunksMax")
	id := uint32(len(l.chunks)) + 1
	l.chunks = l.chunks[:id]
	c := &l.chunks[id-1]
	if ls.last == 0 {
		*c = chunk{jump: id}
		ls.head = id
	} else {
		p := &l.chunks[ls.last-1]
		p.next = id
		// If p's jump and its jump's jump skip as many chunks, jump over
		// both (skew-binary), else jump to p: searches take O(log n) steps.
		j := &l.chunks[p.jump-1]
		if p.jumpLen == j.jumpLen {
			*c = chunk{prev: ls.last, jump: j.jump, jumpLen: 1 + p.jumpLen + j.jumpLen}
		} else {
			*c = chunk{prev: ls.last, jump: ls.last, jumpLen: 1}
		}
	}
	c.slots = ls.slots
	for k := 1; k < chunkSlots; k++ {
		invariants.Assert(c.slots[k-1] < c.slots[k], "ledger: history list appended out of slot order")
	}
	invariants.Assert(c.prev == 0 || l.chunks[c.prev-1].slots[chunkSlots-1] < c.slots[0], "ledger: history chunk not after its predecessor")
	if history {
		copy(l.balances[(id-1)*chunkSlots:id*chunkSlots], l.tailBalances[n*chunkSlots:(n+1)*chunkSlots])
	}
	ls.last = id
	ls.fill = 0
}

// cursor is a position in a list: chunk id+1 (0: none; tailChunk: the
// list's header) and index.
type cursor struct {
	c, i uint32
}

// listOf returns the list of side of account a and its number.
func (l *Ledger) listOf(side int, a uint32) (*list, uint32) {
	n := 2*a + uint32(side)
	return &l.lists[n], n
}

// slotAt returns the transfer slot at p in list ls.
func (l *Ledger) slotAt(ls *list, p cursor) uint32 {
	if p.c == tailChunk {
		return ls.slots[p.i]
	}
	return l.chunks[p.c-1].slots[p.i]
}

// balanceAt returns the balance entry at p in list number n.
func (l *Ledger) balanceAt(n uint32, p cursor) *balance {
	if p.c == tailChunk {
		return &l.tailBalances[n*chunkSlots+p.i]
	}
	return &l.balances[(p.c-1)*chunkSlots+p.i]
}

// lastAtMost returns the position of the last entry of ls whose slot is at
// most bound (c 0 if there is none) and the number of chunks visited. It
// walks back from the last chunk by jump pointers, then searches the
// chunk.
func (l *Ledger) lastAtMost(ls *list, bound uint32) (cursor, int) {
	if ls.fill > 0 && ls.slots[0] <= bound {
		i := uint32(1)
		for i < ls.fill && ls.slots[i] <= bound {
			i++
		}
		return cursor{c: tailChunk, i: i - 1}, 0
	}
	v, steps := ls.last, 0
	for v != 0 && l.chunks[v-1].slots[0] > bound {
		c := &l.chunks[v-1]
		if c.jump != v && l.chunks[c.jump-1].slots[0] > bound {
			v = c.jump
		} else {
			v = c.prev
		}
		steps++
	}
	if v == 0 {
		return cursor{}, steps
	}
	c := &l.chunks[v-1]
	i := uint32(1)
	for i < chunkSlots && c.slots[i] <= bound {
		i++
	}
	return cursor{c: v, i: i - 1}, steps
}

// first returns the position of the first entry of ls (c 0 if empty).
func first(ls *list) cursor {
	switch {
	case ls.head != 0:
		return cursor{c: ls.head}
	case ls.fill > 0:
		return cursor{c: tailChunk}
	}
	return cursor{}
}

// firstAtLeast returns the position of the first entry of ls whose slot is
// at least bound (c 0 if there is none).
func (l *Ledger) firstAtLeast(ls *list, bound uint32) cursor {
	if bound == 0 {
		return first(ls)
	}
	p, _ := l.lastAtMost(ls, bound-1)
	if p.c == 0 {
		return first(ls)
	}
	return l.nextEntry(ls, p)
}

// nextEntry returns the position after p in ls.
func (l *Ledger) nextEntry(ls *list, p cursor) cursor {
	if p.c == tailChunk {
		if p.i+1 < ls.fill {
			return cursor{c: tailChunk, i: p.i + 1}
		}
		return cursor{}
	}
	switch {
	case p.i+1 < chunkSlots:
		return cursor{c: p.c, i: p.i + 1}
	case l.chunks[p.c-1].next != 0:
		return cursor{c: l.chunks[p.c-1].next}
	case ls.fill > 0:
		return cursor{c: tailChunk}
	}
	return cursor{}
}

// prevEntry returns the position before p in ls.
func (l *Ledger) prevEntry(ls *list, p cursor) cursor {
	switch {
	case p.i > 0:
		return cursor{c: p.c, i: p.i - 1}
	case p.c == tailChunk:
		if ls.last != 0 {
			return cursor{c: ls.last, i: chunkSlots - 1}
		}
	case l.chunks[p.c-1].prev != 0:
		return cursor{c: l.chunks[p.c-1].prev, i: chunkSlots - 1}
	}
	return cursor{}
}
