package kv

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Apply executes one committed request and writes its reply. The store
// ignores ctx: its semantics do not depend on time. A body that Validate
// rejects changes nothing and is answered with the single byte
// ResultInvalid, and so is an unknown operation. Apply does not allocate.
func (s *Store) Apply(_ *statemachine.Context, operation wire.Operation, input []byte, reply []byte) int {
	if _, err := records(&s.cfg, operation, input); err != nil {
		reply[0] = byte(ResultInvalid)
		return 1
	}
	w := 0
	for len(input) > 0 {
		r, size, _ := decode(uint8(operation), input)
		input = input[size:]
		switch operation {
		case OperationPut:
			reply[w] = byte(s.put(r.key, r.value))
			w++
		case OperationGet:
			w += s.get(r.key, reply[w:])
		case OperationDelete:
			reply[w] = byte(s.delete(r.key))
			w++
		case OperationCompareAndSet:
			reply[w] = byte(s.compareAndSet(&r))
			w++
		}
	}
	return w
}

func (s *Store) put(key, value []byte) Result {
	home := s.hashKey(key)
	pos, i, ok := s.find(key, home)
	if ok {
		s.set(i, value, true)
		return ResultOK
	}
	if s.count == len(s.slots) {
		s.refusedFull++
		return ResultFull
	}
	s.insert(pos, key, home, value)
	return ResultOK
}

// get writes the reply entry of key to reply and returns its size.
func (s *Store) get(key, reply []byte) int {
	_, i, ok := s.find(key, s.hashKey(key))
	if !ok {
		reply[0] = byte(ResultNotFound)
		binary.LittleEndian.PutUint16(reply[1:], 0)
		return getReplyHeaderSize
	}
	v := s.value(i)
	reply[0] = byte(ResultOK)
	binary.LittleEndian.PutUint16(reply[1:], uint16(len(v)))
	return getReplyHeaderSize + copy(reply[getReplyHeaderSize:], v)
}

func (s *Store) delete(key []byte) Result {
	pos, i, ok := s.find(key, s.hashKey(key))
	if !ok {
		return ResultNotFound
	}
	s.remove(pos, i)
	return ResultOK
}

func (s *Store) compareAndSet(r *record) Result {
	home := s.hashKey(r.key)
	pos, i, ok := s.find(r.key, home)
	if r.flags&CASExpectAbsent != 0 {
		if ok {
			return ResultCASMismatch
		}
		if s.count == len(s.slots) {
			s.refusedFull++
			return ResultFull
		}
		s.insert(pos, r.key, home, r.value)
		return ResultOK
	}
	if !ok {
		return ResultNotFound
	}
	if string(s.value(i)) != string(r.expected) {
		return ResultCASMismatch
	}
	s.set(i, r.value, true)
	return ResultOK
}
