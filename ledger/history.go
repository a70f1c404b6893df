package ledger

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// The history index lists, for every account and side (debit, credit), the
// account's transfers on that side in ascending timestamp order. Transfers
// are stored in ascending timestamp order (l.transfers), so a transfer's
// slot orders it as its timestamp does and a list is a chain of slots,
// always appended at its tail:
//
//   - links[side][slot] is the transfer's node in the list of its account
//     on that side (each transfer is in exactly two lists: its debit
//     account's debit list and its credit account's credit list), holding
//     prev and next (doubly linked: ascending and descending walks) and a
//     jump pointer to an earlier node of the same list (Myers' skew-binary
//     jump pointers: a walk back to the last node at or before a slot takes
//     O(log n) steps, so a narrow timestamp range costs O(log n), not the
//     account's whole history);
//   - lists[account] holds the head and tail of the account's two lists.
//
// Accounts created with AccountHistory also get, for each of their nodes,
// the account's balances right after that transfer, appended to balances
// in timestamp order; the node holds its index there.
//
// Slots are stored as slot+1, 0 meaning none. All of it is derived from
// the accounts and transfers: it is neither snapshotted nor in the digest,
// and Restore rebuilds it by re-creating the transfers in timestamp order.

// Sides of a transfer for an account.
const (
	sideDebit  = 0
	sideCredit = 1
)

// link is a transfer's node in one account's list for one side.
type link struct {
	prev, next uint32 // neighbours in the list (slot+1, 0: none)
	jump       uint32 // an earlier node of the list (slot+1); the head jumps to itself
	jumpLen    uint32 // number of nodes the jump skips back (0 at the head)
	balance    uint32 // index in balances + 1 (0: the account has no history)
}

// accountLists are the heads and tails (slot+1) of an account's debit and
// credit lists.
type accountLists struct {
	head, tail [2]uint32
}

// balance is an account's posted balances right after one transfer.
// Pending balances are always zero (two-phase transfers are not supported).
type balance struct {
	debitsPosted, creditsPosted wire.Uint128
}

// indexTransfer adds the transfer in slot to the lists of its accounts
// (slots di and ci), whose balances already include it.
func (l *Ledger) indexTransfer(slot uint32, di, ci uint32) {
	l.appendLink(sideDebit, di, slot)
	l.appendLink(sideCredit, ci, slot)
}

// appendLink appends slot at the tail of account a's list of side.
func (l *Ledger) appendLink(side int, a uint32, slot uint32) {
	links := l.links[side]
	al := &l.lists[a]
	n := &links[slot]
	tail := al.tail[side]
	invariants.Assert(tail <= slot, "ledger: history list appended out of slot order")
	if tail == 0 {
		*n = link{jump: slot + 1}
		al.head[side] = slot + 1
	} else {
		p := &links[tail-1]
		p.next = slot + 1
		// The jump pointer of a node after p: if p's jump and its jump's
		// jump skip as many nodes, jump over both (skew-binary), else jump
		// to p. Searches then take O(log n) steps.
		j := &links[p.jump-1]
		if p.jumpLen == j.jumpLen {
			*n = link{prev: tail, jump: j.jump, jumpLen: 1 + p.jumpLen + j.jumpLen}
		} else {
			*n = link{prev: tail, jump: tail, jumpLen: 1}
		}
	}
	al.tail[side] = slot + 1
	if acc := &l.accounts[a]; acc.Flags&AccountHistory != 0 {
		invariants.Assert(len(l.balances) < cap(l.balances), "ledger: balance history beyond two entries per transfer")
		l.balances = append(l.balances, balance{debitsPosted: acc.DebitsPosted, creditsPosted: acc.CreditsPosted})
		n.balance = uint32(len(l.balances))
	}
}

// lastAtMost returns the last node (slot+1) of account a's list of side
// whose slot is at most bound, or 0 if there is none. It walks back from
// the tail by jump pointers: O(log n) steps.
func (l *Ledger) lastAtMost(side int, a uint32, bound uint32) uint32 {
	links := l.links[side]
	v := l.lists[a].tail[side]
	for v != 0 && v-1 > bound {
		n := &links[v-1]
		if n.jump != v && n.jump-1 > bound {
			v = n.jump
		} else {
			v = n.prev
		}
	}
	return v
}

// firstAtLeast returns the first node (slot+1) of account a's list of side
// whose slot is at least bound, or 0 if there is none.
func (l *Ledger) firstAtLeast(side int, a uint32, bound uint32) uint32 {
	if bound == 0 {
		return l.lists[a].head[side]
	}
	if v := l.lastAtMost(side, a, bound-1); v != 0 {
		return l.links[side][v-1].next
	}
	return l.lists[a].head[side]
}
