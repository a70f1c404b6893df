package outbox

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/wire"
)

// Record layout (little-endian), used by snapshots and as the input of an
// effect's digest hash:
//
//	 0 16 id
//	16  8 op
//	24  4 index
//	28  2 kind
//	30  1 state (pending 0 | retry 1 | failed 3, the last only among the
//	      kept failures)
//	31  1 reserved (0)
//	32  2 reason (0 unless failed)
//	34  2 target_size (1..TargetSizeMax)
//	36  2 payload_size (0..PayloadSizeMax)
//	38  2 result_size (0..ResultSizeMax)
//	40  4 attempts
//	44  4 view (fencing token of the last acknowledged attempt)
//	48  8 created (commit timestamp, ns)
//	56  8 next_attempt (commit time, ns)
//	64    target | payload | result
const recordHeaderSize = 64

// appendRecord appends slot i's record to dst.
func (t *Table) appendRecord(dst []byte, i uint32) []byte {
	target, payload, result := t.bytesOf(i)
	return appendSlotRecord(dst, &t.slots[i], target, payload, result)
}

// appendSlotRecord appends the record of s with the given bytes to dst.
func appendSlotRecord(dst []byte, s *slot, target, payload, result []byte) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, s.id.Lo)
	dst = le.AppendUint64(dst, s.id.Hi)
	dst = le.AppendUint64(dst, s.op)
	dst = le.AppendUint32(dst, s.index)
	dst = le.AppendUint16(dst, uint16(s.kind))
	dst = append(dst, byte(s.state), 0)
	dst = le.AppendUint16(dst, uint16(s.reason))
	dst = le.AppendUint16(dst, s.targetSize)
	dst = le.AppendUint16(dst, s.payloadSize)
	dst = le.AppendUint16(dst, s.resultSize)
	dst = le.AppendUint32(dst, s.attempts)
	dst = le.AppendUint32(dst, s.view)
	dst = le.AppendUint64(dst, s.created)
	dst = le.AppendUint64(dst, s.next)
	dst = append(dst, target...)
	dst = append(dst, payload...)
	return append(dst, result...)
}

// recordSize returns the size of slot i's record.
func (t *Table) recordSize(i uint32) int {
	s := &t.slots[i]
	return recordHeaderSize + int(s.targetSize) + int(s.payloadSize) + int(s.resultSize)
}

// decodedRecord is a record read back from a snapshot.
type decodedRecord struct {
	s                       slot
	target, payload, result []byte
}

// decodeRecord reads one record from b, checking sizes against cfg and
// reserved bytes; it returns the record and its size. failed says whether
// b holds a kept failure (state failed) or an open effect.
func decodeRecord(cfg *Config, b []byte, failed bool) (decodedRecord, int, string) {
	var r decodedRecord
	if len(b) < recordHeaderSize {
		return r, 0, "truncated record header"
	}
	le := binary.LittleEndian
	s := &r.s
	s.id = wire.Uint128{Lo: le.Uint64(b[0:]), Hi: le.Uint64(b[8:])}
	s.op = le.Uint64(b[16:])
	s.index = le.Uint32(b[24:])
	s.kind = Kind(le.Uint16(b[28:]))
	s.state = State(b[30])
	if b[31] != 0 {
		return r, 0, "reserved byte not zero"
	}
	s.reason = Reason(le.Uint16(b[32:]))
	s.targetSize = le.Uint16(b[34:])
	s.payloadSize = le.Uint16(b[36:])
	s.resultSize = le.Uint16(b[38:])
	s.attempts = le.Uint32(b[40:])
	s.view = le.Uint32(b[44:])
	s.created = le.Uint64(b[48:])
	s.next = le.Uint64(b[56:])
	s.used = true
	switch {
	case s.targetSize == 0 || int(s.targetSize) > cfg.TargetSizeMax:
		return r, 0, "target size out of range"
	case int(s.payloadSize) > cfg.PayloadSizeMax:
		return r, 0, "payload size out of range"
	case int(s.resultSize) > cfg.ResultSizeMax:
		return r, 0, "result size out of range"
	case s.id != EffectID(cfg.Cluster, s.op, s.index):
		return r, 0, "id does not derive from (cluster, op, index)"
	case failed && s.state != StateFailed:
		return r, 0, "kept failure not in state failed"
	case failed && (s.attempts > cfg.AttemptsMax || s.next < s.created):
		return r, 0, "kept failure with bad attempt bookkeeping"
	case failed:
		// A kept failure may carry any reason and any result.
	case s.reason != ReasonNone:
		return r, 0, "reason set on an open effect"
	case s.state == StatePending && (s.attempts != 0 || s.view != 0 || s.resultSize != 0 || s.next != s.created):
		return r, 0, "pending effect with attempt bookkeeping"
	case s.state == StateRetry && (s.attempts == 0 || s.attempts >= cfg.AttemptsMax || s.next < s.created):
		return r, 0, "retry effect with bad attempt bookkeeping"
	case s.state != StatePending && s.state != StateRetry:
		return r, 0, "state not open"
	}
	n := recordHeaderSize + int(s.targetSize) + int(s.payloadSize) + int(s.resultSize)
	if len(b) < n {
		return r, 0, "truncated record bytes"
	}
	p := b[recordHeaderSize:n]
	r.target = p[:s.targetSize]
	r.payload = p[s.targetSize : s.targetSize+s.payloadSize]
	r.result = p[s.targetSize+s.payloadSize:]
	return r, n, ""
}
