package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/statemachine"
)

// Request records, little-endian, packed back to back in a body:
//
//	put:             key_size u16 | value_size u16 | key | value
//	get:             key_size u16 | key
//	delete:          key_size u16 | key
//	compare_and_set: key_size u16 | flags u16 | expected_size u16 |
//	                 value_size u16 | key | expected | value
//
// Reply records, in request order:
//
//	put, delete, compare_and_set: result u8
//	get:                          result u8 | value_size u16 | value
//	                              (value_size is 0 unless result is ok)
const (
	putHeaderSize      = 4
	keyHeaderSize      = 2
	casHeaderSize      = 8
	getReplyHeaderSize = 3
)

// CASFlags are the flags of a compare_and_set record.
type CASFlags uint16

// Compare-and-set flags. Other bits are reserved and must be zero.
const (
	// CASExpectAbsent makes compare_and_set create the key only if it is
	// absent; expected_size must then be 0.
	CASExpectAbsent CASFlags = 1 << 0

	casFlagsKnown = CASExpectAbsent
)

// Errors returned by Validate and the Append helpers. Each wraps
// statemachine.ErrInvalidInput. They are built once so that Validate does
// not allocate.
var (
	ErrOperation = fmt.Errorf("kv: unknown operation: %w", statemachine.ErrInvalidInput)
	ErrTruncated = fmt.Errorf("kv: record extends past the end of the body: %w", statemachine.ErrInvalidInput)
	ErrKeySize   = fmt.Errorf("kv: key size not in [1, 64]: %w", statemachine.ErrInvalidInput)
	ErrValueSize = fmt.Errorf("kv: value size above ValueSizeMax: %w", statemachine.ErrInvalidInput)
	ErrCASFlags  = fmt.Errorf("kv: reserved compare_and_set flag, or expected value with CASExpectAbsent: %w", statemachine.ErrInvalidInput)
	ErrReplySize = fmt.Errorf("kv: get batch reply could exceed ReplySizeLimit: %w", statemachine.ErrInvalidInput)
)

// record is one decoded request record; its slices point into the body.
type record struct {
	key, expected, value []byte
	flags                CASFlags
}

// decode reads the record of operation op at the start of b and returns it
// with its size. It checks framing and the static key size only.
func decode(op uint8, b []byte) (r record, size int, err error) {
	var header, keySize, expectedSize, valueSize int
	switch op {
	case uint8(OperationPut):
		if len(b) < putHeaderSize {
			return r, 0, ErrTruncated
		}
		header = putHeaderSize
		keySize = int(binary.LittleEndian.Uint16(b[0:]))
		valueSize = int(binary.LittleEndian.Uint16(b[2:]))
	case uint8(OperationGet), uint8(OperationDelete):
		if len(b) < keyHeaderSize {
			return r, 0, ErrTruncated
		}
		header = keyHeaderSize
		keySize = int(binary.LittleEndian.Uint16(b[0:]))
	case uint8(OperationCompareAndSet):
		if len(b) < casHeaderSize {
			return r, 0, ErrTruncated
		}
		header = casHeaderSize
		keySize = int(binary.LittleEndian.Uint16(b[0:]))
		r.flags = CASFlags(binary.LittleEndian.Uint16(b[2:]))
		expectedSize = int(binary.LittleEndian.Uint16(b[4:]))
		valueSize = int(binary.LittleEndian.Uint16(b[6:]))
		if r.flags&^casFlagsKnown != 0 || (r.flags&CASExpectAbsent != 0 && expectedSize != 0) {
			return r, 0, ErrCASFlags
		}
	default:
		return r, 0, ErrOperation
	}
	if keySize == 0 || keySize > KeySizeMax {
		return r, 0, ErrKeySize
	}
	size = header + keySize + expectedSize + valueSize
	if len(b) < size {
		return r, 0, ErrTruncated
	}
	r.key = b[header : header+keySize]
	r.expected = b[header+keySize : header+keySize+expectedSize]
	r.value = b[header+keySize+expectedSize : size]
	return r, size, nil
}

var errAppendSize = errors.New("kv: key must be 1..64 bytes and values at most 65535 bytes")

func checkSizes(key []byte, values ...[]byte) error {
	if len(key) == 0 || len(key) > KeySizeMax {
		return fmt.Errorf("%w: %w", errAppendSize, ErrKeySize)
	}
	for _, v := range values {
		if len(v) > ValueSizeLimit {
			return fmt.Errorf("%w: %w", errAppendSize, ErrValueSize)
		}
	}
	return nil
}

// AppendPut appends a put record to a put body.
func AppendPut(dst, key, value []byte) ([]byte, error) {
	if err := checkSizes(key, value); err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(value)))
	return append(append(dst, key...), value...), nil
}

// AppendGet appends a get record to a get body.
func AppendGet(dst, key []byte) ([]byte, error) {
	if err := checkSizes(key); err != nil {
		return dst, err
	}
	return append(binary.LittleEndian.AppendUint16(dst, uint16(len(key))), key...), nil
}

// AppendDelete appends a delete record to a delete body.
func AppendDelete(dst, key []byte) ([]byte, error) { return AppendGet(dst, key) }

// AppendCompareAndSet appends a compare_and_set record to a
// compare_and_set body.
func AppendCompareAndSet(dst, key, expected, value []byte, flags CASFlags) ([]byte, error) {
	if err := checkSizes(key, expected, value); err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(flags))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(expected)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(value)))
	dst = append(dst, key...)
	dst = append(dst, expected...)
	return append(dst, value...), nil
}

// ErrReply is returned by DecodeGet for a malformed reply.
var ErrReply = errors.New("kv: malformed get reply")

// DecodeGet reads the first entry of a get reply: its result, its value
// (a sub-slice of reply, empty unless the result is ResultOK) and the
// number of bytes it takes. A reply that is the single byte ResultInvalid
// decodes as (ResultInvalid, nil, 1, nil).
func DecodeGet(reply []byte) (result Result, value []byte, size int, err error) {
	if len(reply) == 1 && Result(reply[0]) == ResultInvalid {
		return ResultInvalid, nil, 1, nil
	}
	if len(reply) < getReplyHeaderSize {
		return 0, nil, 0, ErrReply
	}
	n := getReplyHeaderSize + int(binary.LittleEndian.Uint16(reply[1:]))
	if len(reply) < n {
		return 0, nil, 0, ErrReply
	}
	return Result(reply[0]), reply[getReplyHeaderSize:n], n, nil
}
