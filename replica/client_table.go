package replica

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// clientEntry is one client session. Everything but inflight is replicated
// state: every replica computes the same entries by committing the same ops.
type clientEntry struct {
	id      wire.Uint128
	session uint64 // op that committed the client's register
	request uint32 // last committed request number
	lastOp  uint64 // op of the last commit that touched the session (LRU order)
	// reply is the stored reply: in a reply slot (the replica's own pool
	// of ReplySlotSize buffers) up to that size, else in a message pool
	// buffer (large). A dropped large reply keeps only its header, in a
	// reply slot.
	reply *wire.Message
	// replyHeader is the decoded header of reply (for resends and checks).
	replyHeader wire.Header
	// large: reply is a pool buffer holding a reply above ReplySlotSize.
	// dropped: the reply's body was dropped for a newer large reply;
	// reply holds its header only.
	large, dropped bool
	// inflight is primary-only bookkeeping: request+1 is queued or prepared.
	inflight bool
}

// clientTable maps client ids to sessions. Its capacity is fixed; a register
// when full evicts the least recently committed session (ties broken by
// client id), the same choice on every replica.
type clientTable struct {
	entries []clientEntry
	used    int
	index   map[wire.Uint128]int32
	// registering lists clients whose register is queued or prepared but
	// not committed (primary only), so a retried register is not prepared twice.
	registering []wire.Uint128
	// large counts entries holding a large reply, at most largeMax.
	large    int
	largeMax int
}

func newClientTable(capacity, largeMax int) clientTable {
	invariants.Assert(capacity > 0 && largeMax > 0, "replica: client table without room")
	return clientTable{
		entries:     make([]clientEntry, capacity),
		index:       make(map[wire.Uint128]int32, capacity),
		registering: make([]wire.Uint128, 0, capacity),
		largeMax:    largeMax,
	}
}

// release drops e's stored reply.
func (t *clientTable) release(e *clientEntry) {
	if e.reply != nil {
		e.reply.Unref()
	}
	if e.large {
		t.large--
		invariants.Assert(t.large >= 0, "replica: more large replies released than stored")
	}
	e.reply, e.large, e.dropped = nil, false, false
}

func (t *clientTable) get(id wire.Uint128) *clientEntry {
	i, ok := t.index[id]
	if !ok {
		return nil
	}
	invariants.Assert(int(i) < t.used, "replica: client index points past the used entries")
	invariants.Assert(t.entries[i].id == id, "replica: client index points to another client's entry")
	return &t.entries[i]
}

// register opens (or reopens) the session of id at op. When the table is
// full it evicts one session and returns a copy of the evicted entry's id
// and ok=true; the caller drops nothing — the table releases the evicted
// reply itself.
func (t *clientTable) register(id wire.Uint128, op uint64) (evicted wire.Uint128, evictedSession uint64, didEvict bool) {
	invariants.Assert(!id.IsZero(), "replica: session of the zero client id")
	if e := t.get(id); e != nil {
		invariants.Assert(op >= e.session && op >= e.lastOp, "replica: session reopened at an op before its last")
		e.session, e.request, e.lastOp = op, 0, op
		return wire.Uint128{}, 0, false
	}
	slot := t.used
	if t.used == len(t.entries) {
		slot = t.oldest()
		victim := &t.entries[slot]
		evicted, evictedSession, didEvict = victim.id, victim.session, true
		delete(t.index, victim.id)
		t.release(victim)
	} else {
		t.used++
	}
	t.entries[slot] = clientEntry{id: id, session: op, lastOp: op}
	t.index[id] = int32(slot)
	invariants.Assert(t.used <= len(t.entries) && len(t.index) == t.used, "replica: client index and table of different sizes")
	return evicted, evictedSession, didEvict
}

// oldest returns the slot with the smallest (lastOp, id).
func (t *clientTable) oldest() int {
	invariants.Assert(t.used == len(t.entries), "replica: eviction from a table with room")
	best := 0
	for i := 1; i < t.used; i++ {
		a, b := &t.entries[i], &t.entries[best]
		if a.lastOp < b.lastOp || (a.lastOp == b.lastOp && a.id.Less(b.id)) {
			best = i
		}
	}
	invariants.Assert(best < t.used, "replica: oldest session out of the table")
	return best
}

// setReply stores m (whose reference the table takes) as e's last reply;
// large says m is a pool buffer holding a reply above ReplySlotSize, of
// which the table keeps at most largeMax (the caller makes room first with
// oldestLarge and dropLarge), dropped that m holds only h's header.
func (t *clientTable) setReply(e *clientEntry, m *wire.Message, h *wire.Header, large, dropped bool) {
	invariants.Assert(m != nil && h.Command == wire.CommandReply, "replica: stored reply is not a reply")
	invariants.Assert(h.Client == e.id && h.Session == e.session, "replica: stored reply of another client or session")
	invariants.Assert(!(large && dropped), "replica: a dropped reply kept in a large buffer")
	t.release(e)
	if large {
		invariants.Assert(t.large < t.largeMax, "replica: large reply stored without room")
		t.large++
	}
	e.reply, e.replyHeader, e.large, e.dropped = m, *h, large, dropped
}

// oldestLarge returns the entry holding the large reply of the smallest
// (lastOp, id), other than except: the one whose body a new large reply
// drops, the same on every replica.
func (t *clientTable) oldestLarge(except *clientEntry) *clientEntry {
	var best *clientEntry
	for i := 0; i < t.used; i++ {
		e := &t.entries[i]
		if !e.large || e == except {
			continue
		}
		if best == nil || e.lastOp < best.lastOp || (e.lastOp == best.lastOp && e.id.Less(best.id)) {
			best = e
		}
	}
	invariants.Assert(best == nil || best.large && best.reply != nil, "replica: oldest large reply is not held")
	return best
}

func (t *clientTable) isRegistering(id wire.Uint128) bool {
	invariants.Assert(len(t.registering) <= len(t.entries), "replica: more registers in flight than sessions")
	for _, r := range t.registering {
		if r == id {
			return true
		}
	}
	return false
}

func (t *clientTable) registeringFull() bool {
	invariants.Assert(cap(t.registering) == len(t.entries), "replica: registering list not sized to the table")
	return len(t.registering) == cap(t.registering)
}

func (t *clientTable) addRegistering(id wire.Uint128) bool {
	if len(t.registering) == cap(t.registering) {
		return false
	}
	if invariants.Enabled {
		invariants.Assert(!t.isRegistering(id), "replica: register of a client already registering")
	}
	t.registering = append(t.registering, id)
	invariants.Assert(cap(t.registering) == len(t.entries), "replica: registering list grew")
	return true
}

func (t *clientTable) doneRegistering(id wire.Uint128) {
	for i, r := range t.registering {
		if r == id {
			last := len(t.registering) - 1
			t.registering[i] = t.registering[last]
			t.registering = t.registering[:last]
			if invariants.Enabled {
				invariants.Assert(!t.isRegistering(id), "replica: a client registering twice")
			}
			return
		}
	}
}

// digest is an order-independent checksum of the replicated part of the
// table, for comparing replicas.
func (t *clientTable) digest() wire.Uint128 {
	var sum wire.Uint128
	var b [16 + 8 + 4 + 8 + 16]byte
	invariants.Assert(t.used <= len(t.entries) && len(t.index) == t.used, "replica: client index and table of different sizes")
	for i := 0; i < t.used; i++ {
		e := &t.entries[i]
		invariants.Assert(!e.id.IsZero() && e.lastOp >= e.session, "replica: client table entry without an id or used before its session")
		invariants.Assert(e.reply == nil || e.replyHeader.Client == e.id, "replica: client table entry holds another client's reply")
		binary.LittleEndian.PutUint64(b[0:], e.id.Lo)
		binary.LittleEndian.PutUint64(b[8:], e.id.Hi)
		binary.LittleEndian.PutUint64(b[16:], e.session)
		binary.LittleEndian.PutUint32(b[24:], e.request)
		binary.LittleEndian.PutUint64(b[28:], e.lastOp)
		binary.LittleEndian.PutUint64(b[36:], e.replyHeader.Checksum.Lo)
		binary.LittleEndian.PutUint64(b[44:], e.replyHeader.Checksum.Hi)
		sum = addUint128(sum, wire.Checksum(b[:]))
	}
	return sum
}

func addUint128(a, b wire.Uint128) wire.Uint128 {
	lo := a.Lo + b.Lo
	carry := uint64(0)
	if lo < a.Lo {
		carry = 1
	}
	return wire.Uint128{Lo: lo, Hi: a.Hi + b.Hi + carry}
}
