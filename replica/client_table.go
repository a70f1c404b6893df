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
	reply   *wire.Message
	// replyHeader is the decoded header of reply (for resends and checks).
	replyHeader wire.Header
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
}

func newClientTable(capacity int) clientTable {
	invariants.Assert(capacity > 0, "replica: client table without room")
	return clientTable{
		entries:     make([]clientEntry, capacity),
		index:       make(map[wire.Uint128]int32, capacity),
		registering: make([]wire.Uint128, 0, capacity),
	}
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
func (t *clientTable) register(id wire.Uint128, op uint64) (evicted wire.Uint128, didEvict bool) {
	invariants.Assert(!id.IsZero(), "replica: session of the zero client id")
	if e := t.get(id); e != nil {
		invariants.Assert(op >= e.session && op >= e.lastOp, "replica: session reopened at an op before its last")
		e.session, e.request, e.lastOp = op, 0, op
		return wire.Uint128{}, false
	}
	slot := t.used
	if t.used == len(t.entries) {
		slot = t.oldest()
		victim := &t.entries[slot]
		evicted, didEvict = victim.id, true
		delete(t.index, victim.id)
		if victim.reply != nil {
			victim.reply.Unref()
		}
	} else {
		t.used++
	}
	t.entries[slot] = clientEntry{id: id, session: op, lastOp: op}
	t.index[id] = int32(slot)
	invariants.Assert(t.used <= len(t.entries) && len(t.index) == t.used, "replica: client index and table of different sizes")
	return evicted, didEvict
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

// setReply stores m (whose reference the table takes) as e's last reply.
func (t *clientTable) setReply(e *clientEntry, m *wire.Message, h *wire.Header) {
	invariants.Assert(m != nil && h.Command == wire.CommandReply, "replica: stored reply is not a reply")
	invariants.Assert(h.Client == e.id && h.Session == e.session, "replica: stored reply of another client or session")
	if e.reply != nil {
		e.reply.Unref()
	}
	e.reply, e.replyHeader = m, *h
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
