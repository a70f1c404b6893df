package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/wire"
)

// A query lists effects of the replicated table for operators and tools
// (`chronon client effects`). It travels as the body of an
// OperationOutboxQuery request through consensus like any request, so its
// answer is the table as of the query's commit, the same on every replica,
// and it is stored as the client's reply like any other.
//
// Query body (little-endian, QuerySize bytes):
//
//	 0 1 filter (QueryOpen 1 | QueryFailed 2)
//	 1 3 reserved (0)
//	 4 4 limit (records per page; 0: as many as fit)
//	 8 8 after_op    } cursor: only effects ordered after (after_op,
//	16 4 after_index } after_index) by (op, index); zeros for the first page
//	20 4 reserved (0)
//
// Reply body (little-endian): a QueryReplyHeaderSize header, then records
// in the snapshot record format (see record.go), ordered by (op, index):
//
//	 0 8 emitted   } the table's counters (Stats)
//	 8 8 done      }
//	16 8 failed    }
//	24 4 open      }
//	28 4 kept      }
//	32 4 status (QueryOK 0 | QueryInvalid 1)
//	36 4 count of records that follow
//	40 1 more (1: more records match after the last one)
//	41 7 reserved (0)
const (
	QuerySize            = 24
	QueryReplyHeaderSize = 48
)

// QueryFilter selects what a query lists.
type QueryFilter uint8

// Query filters.
const (
	// QueryOpen lists effects not finished yet (pending or retrying).
	QueryOpen QueryFilter = 1
	// QueryFailed lists the kept permanently failed effects.
	QueryFailed QueryFilter = 2
)

// QueryStatus says whether a query was understood.
type QueryStatus uint32

// Query statuses.
const (
	QueryOK      QueryStatus = 0
	QueryInvalid QueryStatus = 1
)

// Query is one page request.
type Query struct {
	Filter QueryFilter
	// Limit bounds the records returned (0: as many as fit the reply).
	Limit uint32
	// AfterOp and AfterIndex are the cursor: the (Op, Index) of the last
	// effect of the previous page, zeros for the first page.
	AfterOp    uint64
	AfterIndex uint32
}

// AppendQuery appends q's encoding to dst.
func AppendQuery(dst []byte, q Query) []byte {
	le := binary.LittleEndian
	dst = append(dst, byte(q.Filter), 0, 0, 0)
	dst = le.AppendUint32(dst, q.Limit)
	dst = le.AppendUint64(dst, q.AfterOp)
	dst = le.AppendUint32(dst, q.AfterIndex)
	return le.AppendUint32(dst, 0)
}

// decodeQuery reads a query body; ok is false for any malformed one.
func decodeQuery(b []byte) (q Query, ok bool) {
	if len(b) != QuerySize || b[1]|b[2]|b[3] != 0 {
		return q, false
	}
	le := binary.LittleEndian
	q = Query{Filter: QueryFilter(b[0]), Limit: le.Uint32(b[4:]), AfterOp: le.Uint64(b[8:]), AfterIndex: le.Uint32(b[16:])}
	if le.Uint32(b[20:]) != 0 || (q.Filter != QueryOpen && q.Filter != QueryFailed) {
		return q, false
	}
	return q, true
}

// Query answers a query body into reply and returns the reply's length.
// reply must hold at least QueryReplyHeaderSize bytes; records that do not
// fit are left for the next page (more = 1). A malformed body gets a reply
// with status QueryInvalid and the counters. Query only reads the table;
// it is deterministic and does not allocate.
func (t *Table) Query(body []byte, reply []byte) int {
	if len(reply) < QueryReplyHeaderSize {
		panic("outbox: query reply buffer below QueryReplyHeaderSize")
	}
	le := binary.LittleEndian
	clear(reply[:QueryReplyHeaderSize])
	le.PutUint64(reply[0:], t.emitted)
	le.PutUint64(reply[8:], t.done)
	le.PutUint64(reply[16:], t.failed)
	le.PutUint32(reply[24:], uint32(t.count))
	le.PutUint32(reply[28:], uint32(t.failures.n))
	q, ok := decodeQuery(body)
	if !ok {
		le.PutUint32(reply[32:], uint32(QueryInvalid))
		return QueryReplyHeaderSize
	}
	// Collect matching positions (slots or ring positions) in t.order and
	// sort them by (op, index).
	t.order = t.order[:0]
	after := func(s *slot) bool {
		return s.op > q.AfterOp || (s.op == q.AfterOp && s.index > q.AfterIndex)
	}
	if q.Filter == QueryOpen {
		for i := range t.slots {
			if t.slots[i].used && after(&t.slots[i]) {
				t.order = append(t.order, uint32(i))
			}
		}
	} else {
		for k := range t.failures.n {
			p := t.failures.at(k)
			if after(&t.failures.entries[p]) {
				t.order = append(t.order, uint32(p))
			}
		}
	}
	entries := t.slots
	if q.Filter == QueryFailed {
		entries = t.failures.entries
	}
	slices.SortFunc(t.order, func(a, b uint32) int {
		x, y := &entries[a], &entries[b]
		if x.op != y.op {
			return cmp(x.op, y.op)
		}
		return cmp(uint64(x.index), uint64(y.index))
	})
	n, count := QueryReplyHeaderSize, uint32(0)
	more := false
	for _, i := range t.order {
		s := &entries[i]
		size := recordHeaderSize + int(s.targetSize) + int(s.payloadSize) + int(s.resultSize)
		if (q.Limit > 0 && count == q.Limit) || n+size > len(reply) {
			more = true
			break
		}
		var target, payload, result []byte
		if q.Filter == QueryOpen {
			target, payload, result = t.bytesOf(i)
		} else {
			target, payload, result = t.failureBytes(int(i))
		}
		n += len(appendSlotRecord(reply[n:n], s, target, payload, result))
		count++
	}
	le.PutUint32(reply[36:], count)
	if more {
		reply[40] = 1
	}
	return n
}

// QueryResult is a decoded query reply. Effects' slices alias the reply.
type QueryResult struct {
	Stats   Stats
	Status  QueryStatus
	Effects []Effect
	// More says that more effects match after the last one: query again
	// with the last effect's (Op, Index) as the cursor.
	More bool
}

// ErrQueryReply means a query reply is malformed.
var ErrQueryReply = errors.New("outbox: invalid query reply")

// DecodeQueryReply decodes a query reply from a cluster whose effect ids
// derive from cluster. Every record is checked (sizes, state, id
// derivation); effects are appended to dst and alias b. Errors wrap
// ErrQueryReply.
func DecodeQueryReply(dst []Effect, cluster wire.Uint128, filter QueryFilter, b []byte) (QueryResult, error) {
	var r QueryResult
	if len(b) < QueryReplyHeaderSize {
		return r, fmt.Errorf("%w: %d bytes, below the %d-byte header", ErrQueryReply, len(b), QueryReplyHeaderSize)
	}
	le := binary.LittleEndian
	r.Stats = Stats{Emitted: le.Uint64(b[0:]), Done: le.Uint64(b[8:]), Failed: le.Uint64(b[16:]),
		Open: int(le.Uint32(b[24:])), Kept: int(le.Uint32(b[28:]))}
	r.Status = QueryStatus(le.Uint32(b[32:]))
	count := le.Uint32(b[36:])
	switch {
	case b[40] > 1 || le.Uint32(b[41:])|uint32(le.Uint16(b[45:]))|uint32(b[47]) != 0:
		return r, fmt.Errorf("%w: reserved bytes not zero", ErrQueryReply)
	case r.Status != QueryOK && r.Status != QueryInvalid:
		return r, fmt.Errorf("%w: unknown status %d", ErrQueryReply, r.Status)
	case r.Status == QueryInvalid && len(b) != QueryReplyHeaderSize:
		return r, fmt.Errorf("%w: records after an invalid status", ErrQueryReply)
	}
	r.More = b[40] == 1
	// Limits of any table: the reply's own sizes are bounded by u16 fields.
	cfg := Config{Cluster: cluster, TargetSizeMax: SizeLimit, PayloadSizeMax: SizeLimit,
		ResultSizeMax: SizeLimit, AttemptsMax: ^uint32(0)}
	rest := b[QueryReplyHeaderSize:]
	for k := range count {
		rec, size, p := decodeRecord(&cfg, rest, filter == QueryFailed)
		if p != "" {
			return r, fmt.Errorf("%w: record %d: %s", ErrQueryReply, k, p)
		}
		dst = append(dst, slotEffect(&rec.s, rec.target, rec.payload, rec.result))
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return r, fmt.Errorf("%w: %d bytes after the last record", ErrQueryReply, len(rest))
	}
	r.Effects = dst
	return r, nil
}
