package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Snapshot layout (little-endian):
//
//	 0  8 magic "chrnkv01"
//	 8  4 version (1)
//	12  4 reserved (0)
//	16  4 count
//	20  4 reserved (0)
//	24    count × (key_size u16 | value_size u16 | key | value), keys
//	      strictly ascending in bytewise order
//	end-16 16 checksum: xxh3-128 of all preceding bytes
const (
	snapshotMagic      = "chrnkv01"
	snapshotVersion    = 1
	snapshotHeaderSize = 24
	snapshotTrailer    = 16
)

// ErrSnapshot is wrapped by every Restore error, together with
// statemachine.ErrInvalidInput.
var ErrSnapshot = errors.New("kv: invalid snapshot")

// Snapshot appends the state to dst: the records sorted by key, so the
// encoding depends only on the contents, not on slot history.
func (s *Store) Snapshot(dst []byte) []byte {
	s.order = s.order[:0]
	size := snapshotHeaderSize + snapshotTrailer
	for i := range s.slots {
		if s.slots[i].keySize != 0 {
			s.order = append(s.order, uint32(i))
			size += putHeaderSize + int(s.slots[i].keySize) + int(s.slots[i].valueSize)
		}
	}
	slices.SortFunc(s.order, func(a, b uint32) int {
		return bytes.Compare(s.slots[a].key[:s.slots[a].keySize], s.slots[b].key[:s.slots[b].keySize])
	})
	start := len(dst)
	dst = slices.Grow(dst, size)
	dst = append(dst, snapshotMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, snapshotVersion)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s.order)))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	for _, i := range s.order {
		sl := &s.slots[i]
		dst = binary.LittleEndian.AppendUint16(dst, uint16(sl.keySize))
		dst = binary.LittleEndian.AppendUint16(dst, sl.valueSize)
		dst = append(dst, sl.key[:sl.keySize]...)
		dst = append(dst, s.value(i)...)
	}
	sum := wire.Checksum(dst[start:])
	dst = binary.LittleEndian.AppendUint64(dst, sum.Lo)
	return binary.LittleEndian.AppendUint64(dst, sum.Hi)
}

// Restore replaces the state with a snapshot's. It checks every byte: the
// checksum, the header, every record's sizes against the limits and this
// store's capacity, strictly ascending keys, and the exact length. On
// error the store is left empty and the error wraps ErrSnapshot and
// statemachine.ErrInvalidInput.
func (s *Store) Restore(snapshot []byte) error {
	s.Reset()
	if err := s.restore(snapshot); err != nil {
		s.Reset()
		return fmt.Errorf("%w: %w: %w", ErrSnapshot, err, statemachine.ErrInvalidInput)
	}
	return nil
}

func (s *Store) restore(b []byte) error {
	if len(b) < snapshotHeaderSize+snapshotTrailer {
		return fmt.Errorf("size %d below minimum %d", len(b), snapshotHeaderSize+snapshotTrailer)
	}
	body := b[:len(b)-snapshotTrailer]
	sum := wire.Checksum(body)
	if binary.LittleEndian.Uint64(b[len(body):]) != sum.Lo || binary.LittleEndian.Uint64(b[len(body)+8:]) != sum.Hi {
		return errors.New("checksum mismatch")
	}
	if string(b[0:8]) != snapshotMagic {
		return errors.New("bad magic")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != snapshotVersion {
		return fmt.Errorf("version %d, want %d", v, snapshotVersion)
	}
	if binary.LittleEndian.Uint32(b[12:]) != 0 || binary.LittleEndian.Uint32(b[20:]) != 0 {
		return errors.New("reserved header bytes not zero")
	}
	count := binary.LittleEndian.Uint32(b[16:])
	if uint64(count) > uint64(len(s.slots)) {
		return fmt.Errorf("%d keys exceed capacity %d", count, len(s.slots))
	}
	rest := body[snapshotHeaderSize:]
	var prev []byte
	for n := range count {
		r, size, err := decode(uint8(OperationPut), rest)
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		if len(r.value) > s.cfg.ValueSizeMax {
			return fmt.Errorf("record %d: value size %d above %d", n, len(r.value), s.cfg.ValueSizeMax)
		}
		if prev != nil && bytes.Compare(prev, r.key) >= 0 {
			return fmt.Errorf("record %d: keys not strictly ascending", n)
		}
		home := s.hashKey(r.key)
		pos, _, _ := s.find(r.key, home)
		s.insert(pos, r.key, home, r.value)
		prev = r.key
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the last record", len(rest))
	}
	return nil
}
