package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Snapshot layout (little-endian), stored in journal.CheckpointData.Outbox:
//
//	 0  8 magic "chrnob01"
//	 8  4 version (1)
//	12  4 count
//	16  8 emitted
//	24  8 done
//	32  8 failed
//	40  4 kept (failed effects kept for inspection)
//	44  4 reserved (0)
//	48    count × record (see record.go), ids strictly ascending by (Hi, Lo)
//	      kept × record of a failed effect, oldest failure first
//	end-16 16 checksum: xxh3-128 (wire.Checksum) of all preceding bytes
//
// count = emitted - done - failed; kept ≤ min(failed, Config.FailedKeep).
const (
	snapshotMagic      = "chrnob01"
	snapshotVersion    = 2
	snapshotHeaderSize = 48
	snapshotTrailer    = 16
)

// Snapshot appends the table's replicated state to dst and returns it. The
// encoding depends only on the contents, not on slot placement or history,
// so equal tables give equal bytes.
func (t *Table) Snapshot(dst []byte) []byte {
	t.order = t.order[:0]
	size := snapshotHeaderSize + snapshotTrailer
	for i := range t.slots {
		if t.slots[i].used {
			t.order = append(t.order, uint32(i))
			size += t.recordSize(uint32(i))
		}
	}
	for k := range t.failures.n {
		e := &t.failures.entries[t.failures.at(k)]
		size += recordHeaderSize + int(e.targetSize) + int(e.payloadSize) + int(e.resultSize)
	}
	slices.SortFunc(t.order, func(a, b uint32) int {
		x, y := t.slots[a].id, t.slots[b].id
		if x.Hi != y.Hi {
			return cmp(x.Hi, y.Hi)
		}
		return cmp(x.Lo, y.Lo)
	})
	start := len(dst)
	dst = slices.Grow(dst, size)
	le := binary.LittleEndian
	dst = append(dst, snapshotMagic...)
	dst = le.AppendUint32(dst, snapshotVersion)
	dst = le.AppendUint32(dst, uint32(len(t.order)))
	dst = le.AppendUint64(dst, t.emitted)
	dst = le.AppendUint64(dst, t.done)
	dst = le.AppendUint64(dst, t.failed)
	dst = le.AppendUint32(dst, uint32(t.failures.n))
	dst = le.AppendUint32(dst, 0)
	for _, i := range t.order {
		dst = t.appendRecord(dst, i)
	}
	for k := range t.failures.n {
		p := t.failures.at(k)
		target, payload, result := t.failureBytes(p)
		dst = appendSlotRecord(dst, &t.failures.entries[p], target, payload, result)
	}
	sum := wire.Checksum(dst[start:])
	dst = le.AppendUint64(dst, sum.Lo)
	return le.AppendUint64(dst, sum.Hi)
}

// Restore replaces the table's state with a snapshot's. It checks every
// byte: checksum, magic, version, counts, each record's sizes against this
// table's limits, state and attempt bookkeeping, that each id derives from
// (this cluster, op, index), strictly ascending ids, and the exact length.
// An empty snapshot (nil, the journal's empty blob) restores an empty
// table. On error the table is left empty and the error wraps ErrSnapshot
// and statemachine.ErrInvalidInput.
func (t *Table) Restore(snapshot []byte) error {
	t.Reset()
	if len(snapshot) == 0 {
		return nil
	}
	if err := t.restore(snapshot); err != nil {
		t.Reset()
		return fmt.Errorf("%w: %w: %w", ErrSnapshot, err, statemachine.ErrInvalidInput)
	}
	return nil
}

func (t *Table) restore(b []byte) error {
	if len(b) < snapshotHeaderSize+snapshotTrailer {
		return fmt.Errorf("size %d below minimum %d", len(b), snapshotHeaderSize+snapshotTrailer)
	}
	body := b[:len(b)-snapshotTrailer]
	le := binary.LittleEndian
	sum := wire.Checksum(body)
	if le.Uint64(b[len(body):]) != sum.Lo || le.Uint64(b[len(body)+8:]) != sum.Hi {
		return errors.New("checksum mismatch")
	}
	if string(b[0:8]) != snapshotMagic {
		return errors.New("bad magic")
	}
	if v := le.Uint32(b[8:]); v != snapshotVersion {
		return fmt.Errorf("version %d, want %d", v, snapshotVersion)
	}
	count := le.Uint32(b[12:])
	emitted, done, failed := le.Uint64(b[16:]), le.Uint64(b[24:]), le.Uint64(b[32:])
	if done > emitted || failed > emitted-done || uint64(count) != emitted-done-failed {
		return fmt.Errorf("count %d inconsistent with emitted %d, done %d, failed %d", count, emitted, done, failed)
	}
	if uint64(count) > uint64(len(t.slots)) {
		return fmt.Errorf("%d effects exceed capacity %d", count, len(t.slots))
	}
	kept := le.Uint32(b[40:])
	if uint64(kept) > failed || int64(kept) > int64(len(t.failures.entries)) {
		return fmt.Errorf("%d kept failures exceed %d failed or capacity %d", kept, failed, len(t.failures.entries))
	}
	if le.Uint32(b[44:]) != 0 {
		return errors.New("reserved header bytes not zero")
	}
	rest := body[snapshotHeaderSize:]
	var prev wire.Uint128
	for n := range count {
		r, size, p := decodeRecord(&t.cfg, rest, false)
		if p != "" {
			return fmt.Errorf("record %d: %s", n, p)
		}
		if n > 0 && !prev.Less(r.s.id) {
			return fmt.Errorf("record %d: ids not strictly ascending", n)
		}
		i := t.insert(r.s.id, r.s.op, r.s.index, r.s.kind, r.s.created, r.target, r.payload)
		s := &t.slots[i]
		s.state, s.attempts, s.view, s.next = r.s.state, r.s.attempts, r.s.view, r.s.next
		t.setResult(i, r.result)
		t.rehash(i)
		prev = r.s.id
		rest = rest[size:]
	}
	for n := range kept {
		r, size, p := decodeRecord(&t.cfg, rest, true)
		if p != "" {
			return fmt.Errorf("kept failure %d: %s", n, p)
		}
		t.putFailure(&r.s, r.target, r.payload, r.result)
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the last record", len(rest))
	}
	t.emitted, t.done, t.failed = emitted, done, failed
	return nil
}
