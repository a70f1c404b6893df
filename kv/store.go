package kv

import (
	"encoding/binary"
	"math/bits"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// Seeds of the digest hashes.
const (
	seedRecord = 1
	seedDigest = 2
)

// slot holds one key. keySize 0 marks a free slot. The value lives in the
// store's slab at slot × ValueSizeMax.
type slot struct {
	hash      wire.Uint128 // record hash, part of the digest sum
	home      uint64       // index hash of the key
	valueSize uint16
	keySize   uint8
	key       [KeySizeMax]byte
}

// Store is the key-value state machine. It is not safe for concurrent use:
// the replica calls it from its event loop only.
type Store struct {
	cfg Config

	slots  []slot
	values []byte   // KeysMax × ValueSizeMax
	free   []uint32 // stack of free slots
	index  table
	count  int

	// sum is the sum modulo 2^128 of the hashes of all records.
	sum wire.Uint128
	// scratch holds one encoded record for hashing.
	scratch []byte
	// order is Snapshot's scratch list of live slots.
	order []uint32
	// refusedFull counts writes refused with ResultFull (not state: it is
	// neither snapshotted nor reset).
	refusedFull uint64
}

var _ statemachine.StateMachine = (*Store)(nil)

// New returns an empty store with all memory for cfg's capacity allocated.
func New(cfg Config) (*Store, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		slots:   make([]slot, cfg.KeysMax),
		values:  make([]byte, cfg.KeysMax*cfg.ValueSizeMax),
		free:    make([]uint32, 0, cfg.KeysMax),
		index:   newTable(cfg.KeysMax),
		scratch: make([]byte, putHeaderSize+KeySizeMax+cfg.ValueSizeMax),
		order:   make([]uint32, 0, cfg.KeysMax),
	}
	s.Reset()
	return s, nil
}

// Config returns the configuration the store was built with, defaults
// filled in.
func (s *Store) Config() Config { return s.cfg }

// Len returns the number of keys.
func (s *Store) Len() int { return s.count }

// SnapshotSizeMax returns the length of the snapshot of a store holding
// KeysMax keys of KeySizeMax bytes with values of ValueSizeMax bytes.
func (s *Store) SnapshotSizeMax() int { return snapshotSizeMax(s.cfg) }

// SnapshotSizeMax returns the snapshot bound of a store built with cfg
// (New's defaults filled in) without building it, or cfg's error.
func SnapshotSizeMax(cfg Config) (int, error) {
	if err := cfg.normalize(); err != nil {
		return 0, err
	}
	return snapshotSizeMax(cfg), nil
}

func snapshotSizeMax(cfg Config) int {
	return snapshotHeaderSize + cfg.KeysMax*(putHeaderSize+KeySizeMax+cfg.ValueSizeMax) + snapshotTrailer
}

// Capacity reports the keys held, KeysMax and the writes refused with
// ResultFull since this store was made.
func (s *Store) Capacity() statemachine.Capacity {
	return statemachine.Capacity{Records: uint64(s.count), RecordsMax: uint64(len(s.slots)), RefusedFull: s.refusedFull}
}

// Reset empties the store without releasing memory.
func (s *Store) Reset() {
	for i := range s.slots {
		s.slots[i].keySize = 0
	}
	s.free = s.free[:0]
	for i := len(s.slots) - 1; i >= 0; i-- {
		s.free = append(s.free, uint32(i))
	}
	s.index.reset()
	s.count = 0
	s.sum = wire.Uint128{}
}

// Digest returns a checksum of the whole state: the sum modulo 2^128 of
// the xxh3-128 hashes of every record (key_size u16, value_size u16, key,
// value), maintained on every change, mixed with the key count. A sum,
// unlike an XOR, does not cancel equal records.
func (s *Store) Digest() wire.Uint128 {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], s.sum.Lo)
	binary.LittleEndian.PutUint64(b[8:], s.sum.Hi)
	binary.LittleEndian.PutUint64(b[16:], uint64(s.count))
	h := xxh3.Hash128Seed(b[:], seedDigest)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

// Lookup returns the value of key (a view into the store, valid until the
// next change) and whether it exists.
func (s *Store) Lookup(key []byte) ([]byte, bool) {
	if len(key) == 0 || len(key) > KeySizeMax {
		return nil, false
	}
	_, i, ok := s.find(key, s.hashKey(key))
	if !ok {
		return nil, false
	}
	return s.value(i), true
}

func (s *Store) hashKey(key []byte) uint64 { return xxh3.HashSeed(key, s.cfg.HashSeed) }

// find returns the index position of key (or the empty position where it
// would go), its slot, and whether it exists.
func (s *Store) find(key []byte, home uint64) (pos, slot uint32, ok bool) {
	mask := uint32(len(s.index.entries) - 1)
	for pos = uint32(home) & mask; ; pos = (pos + 1) & mask {
		e := s.index.entries[pos]
		if e == 0 {
			return pos, 0, false
		}
		sl := &s.slots[e-1]
		if sl.home == home && int(sl.keySize) == len(key) && string(sl.key[:len(key)]) == string(key) {
			return pos, e - 1, true
		}
	}
}

func (s *Store) value(i uint32) []byte {
	off := int(i) * s.cfg.ValueSizeMax
	return s.values[off : off+int(s.slots[i].valueSize)]
}

// recordHash hashes slot i's record.
func (s *Store) recordHash(i uint32) wire.Uint128 {
	sl := &s.slots[i]
	b := s.scratch
	binary.LittleEndian.PutUint16(b[0:], uint16(sl.keySize))
	binary.LittleEndian.PutUint16(b[2:], sl.valueSize)
	n := putHeaderSize
	n += copy(b[n:], sl.key[:sl.keySize])
	n += copy(b[n:], s.value(i))
	h := xxh3.Hash128Seed(b[:n], seedRecord)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

// insert stores a new key at index position pos. The caller checked that
// a slot is free.
func (s *Store) insert(pos uint32, key []byte, home uint64, value []byte) {
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	sl := &s.slots[i]
	sl.home = home
	sl.keySize = uint8(len(key))
	copy(sl.key[:], key)
	s.index.entries[pos] = i + 1
	s.count++
	s.set(i, value, false)
}

// set replaces slot i's value and its hash in the digest sum; old says
// whether the slot had a record before.
func (s *Store) set(i uint32, value []byte, old bool) {
	sl := &s.slots[i]
	if old {
		s.sum = sub128(s.sum, sl.hash)
	}
	sl.valueSize = uint16(len(value))
	off := int(i) * s.cfg.ValueSizeMax
	copy(s.values[off:], value)
	sl.hash = s.recordHash(i)
	s.sum = add128(s.sum, sl.hash)
}

// remove deletes the key at index position pos in slot i.
func (s *Store) remove(pos, i uint32) {
	s.sum = sub128(s.sum, s.slots[i].hash)
	s.index.remove(pos, s.slots)
	s.slots[i].keySize = 0
	s.free = append(s.free, i)
	s.count--
}

func add128(a, b wire.Uint128) wire.Uint128 {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	hi, _ := bits.Add64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}
}

func sub128(a, b wire.Uint128) wire.Uint128 {
	lo, c := bits.Sub64(a.Lo, b.Lo, 0)
	hi, _ := bits.Sub64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}
}
