package ledger

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// The history index lists, for every account and side (debit, credit), the
// account's transfers on that side in ascending timestamp order. Transfers
// are stored in ascending timestamp order (l.transfers), so a transfer's
// slot orders it as its timestamp does, and a list is a sequence of slots
// that only ever grows at its tail.
//
// A list is a doubly linked chain of 64-byte chunks of chunkSlots slots
// each, taken in order from one pool (l.chunks); every chunk but the tail
// is full. Each chunk also holds a jump pointer to an earlier chunk of its
// list (Myers' skew-binary jump pointers), so the walk back from the tail
// to the chunk holding a given slot takes O(log n) steps: a narrow
// timestamp range costs O(log n), not the account's whole history. An
// append writes one slot into the account's tail chunk; a new chunk (one
// append in chunkSlots) also reads the previous tail and its jump target.
//
// Accounts created with AccountHistory also get, for each entry, the
// account's balances right after that transfer, in l.balances at the
// entry's position (chunk*chunkSlots + index).
//
// Chunk ids are stored as id+1, 0 meaning none. All of it is derived from
// the accounts and transfers: it is neither snapshotted nor in the digest,
// and Restore rebuilds it by re-creating the transfers in timestamp order.

// Sides of a transfer for an account.
const (
	sideDebit  = 0
	sideCredit = 1
)

// chunkSlots is the number of transfer slots in a chunk (a chunk is 64
// bytes).
const chunkSlots = 12

// chunk is a piece of one account's list for one side.
type chunk struct {
	prev, next uint32 // neighbours in the list (id+1, 0: none)
	jump       uint32 // an earlier chunk of the list (id+1); the head jumps to itself
	jumpLen    uint32 // number of chunks the jump skips back (0 at the head)
	slots      [chunkSlots]uint32
}

// accountLists are the head and tail chunks (id+1) of an account's debit
// and credit lists and the number of slots used in each tail.
type accountLists struct {
	head, tail, fill [2]uint32
}

// balance is an account's posted balances right after one transfer.
// Pending balances are always zero (two-phase transfers are not supported).
type balance struct {
	debitsPosted, creditsPosted wire.Uint128
}

// chunksMax is the most chunks transfers transfers between accounts
// accounts can need: every list's chunks are full but its tail, there are
// two entries per transfer and at most two lists per account.
func chunksMax(accounts, transfers int) int {
	return (2*transfers+chunkSlots-1)/chunkSlots + 2*accounts
}

// indexTransfer adds the transfer in slot to the lists of its accounts
// (slots di and ci), whose balances already include it.
func (l *Ledger) indexTransfer(slot uint32, di, ci uint32) {
	l.appendEntry(sideDebit, di, slot)
	l.appendEntry(sideCredit, ci, slot)
}

// appendEntry appends slot to account a's list of side.
func (l *Ledger) appendEntry(side int, a uint32, slot uint32) {
	al := &l.lists[a]
	tail := al.tail[side]
	if tail == 0 || al.fill[side] == chunkSlots {
		tail = l.newChunk(side, al)
	}
	c := &l.chunks[tail-1]
	i := al.fill[side]
	invariants.Assert(i == 0 || c.slots[i-1] < slot, "ledger: history list appended out of slot order")
	c.slots[i] = slot
	al.fill[side] = i + 1
	if acc := &l.accounts[a]; acc.Flags&AccountHistory != 0 {
		l.balances[(tail-1)*chunkSlots+i] = balance{debitsPosted: acc.DebitsPosted, creditsPosted: acc.CreditsPosted}
	}
}

// newChunk appends an empty chunk to the list of side in al and returns
// its id+1.
func (l *Ledger) newChunk(side int, al *accountLists) uint32 {
	invariants.Assert(len(l.chunks) < cap(l.chunks), "ledger: history chunks beyond chunksMax")
	id := uint32(len(l.chunks)) + 1
	l.chunks = l.chunks[:id]
	n := &l.chunks[id-1]
	tail := al.tail[side]
	if tail == 0 {
		*n = chunk{jump: id}
		al.head[side] = id
	} else {
		p := &l.chunks[tail-1]
		p.next = id
		// If p's jump and its jump's jump skip as many chunks, jump over
		// both (skew-binary), else jump to p: searches take O(log n) steps.
		j := &l.chunks[p.jump-1]
		if p.jumpLen == j.jumpLen {
			*n = chunk{prev: tail, jump: j.jump, jumpLen: 1 + p.jumpLen + j.jumpLen}
		} else {
			*n = chunk{prev: tail, jump: tail, jumpLen: 1}
		}
	}
	al.tail[side] = id
	al.fill[side] = 0
	return id
}

// cursor is a position in a list: chunk id+1 (0: none) and index.
type cursor struct {
	c, i uint32
}

// chunkLen returns the number of slots used in chunk c (id+1) of a list
// whose tail is tail and tail fill is fill.
func chunkLen(c, tail, fill uint32) uint32 {
	if c == tail {
		return fill
	}
	return chunkSlots
}

// lastAtMost returns the position of the last entry of account a's list
// of side whose slot is at most bound (c 0 if there is none) and the number
// of chunks visited. It walks back from the tail by jump pointers, then
// searches the chunk.
func (l *Ledger) lastAtMost(side int, a uint32, bound uint32) (cursor, int) {
	al := &l.lists[a]
	v, steps := al.tail[side], 0
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
	n := chunkLen(v, al.tail[side], al.fill[side])
	i := uint32(1)
	for i < n && c.slots[i] <= bound {
		i++
	}
	return cursor{c: v, i: i - 1}, steps
}

// firstAtLeast returns the position of the first entry of account a's list
// of side whose slot is at least bound (c 0 if there is none).
func (l *Ledger) firstAtLeast(side int, a uint32, bound uint32) cursor {
	al := &l.lists[a]
	if bound == 0 {
		if al.head[side] == 0 {
			return cursor{}
		}
		return cursor{c: al.head[side]}
	}
	p, _ := l.lastAtMost(side, a, bound-1)
	if p.c == 0 {
		if al.head[side] == 0 {
			return cursor{}
		}
		return cursor{c: al.head[side]}
	}
	return l.nextEntry(side, a, p)
}

// nextEntry returns the position after p in account a's list of side.
func (l *Ledger) nextEntry(side int, a uint32, p cursor) cursor {
	al := &l.lists[a]
	if p.i+1 < chunkLen(p.c, al.tail[side], al.fill[side]) {
		return cursor{c: p.c, i: p.i + 1}
	}
	if next := l.chunks[p.c-1].next; next != 0 {
		return cursor{c: next}
	}
	return cursor{}
}

// prevEntry returns the position before p (chunks before the tail are
// full).
func (l *Ledger) prevEntry(p cursor) cursor {
	if p.i > 0 {
		return cursor{c: p.c, i: p.i - 1}
	}
	if prev := l.chunks[p.c-1].prev; prev != 0 {
		return cursor{c: prev, i: chunkSlots - 1}
	}
	return cursor{}
}

// slotAt returns the transfer slot at p.
func (l *Ledger) slotAt(p cursor) uint32 { return l.chunks[p.c-1].slots[p.i] }
