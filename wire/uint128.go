package wire

import (
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
)

// Uint128 is an unsigned 128-bit integer, used for checksums, cluster ids and
// client ids. On the wire it is 16 bytes: Lo little-endian, then Hi
// little-endian.
type Uint128 struct {
	Lo uint64
	Hi uint64
}

// IsZero reports whether u is zero.
func (u Uint128) IsZero() bool { return u.Lo == 0 && u.Hi == 0 }

// String formats u as 32 lowercase hex digits, most significant first.
func (u Uint128) String() string { return fmt.Sprintf("%016x%016x", u.Hi, u.Lo) }

// putUint128 writes u at b[0:16].
func putUint128(b []byte, u Uint128) {
	invariants.Assert(len(b) >= 16, "wire: u128 written past the buffer")
	binary.LittleEndian.PutUint64(b[0:8], u.Lo)
	binary.LittleEndian.PutUint64(b[8:16], u.Hi)
}

// getUint128 reads a Uint128 from b[0:16].
func getUint128(b []byte) Uint128 {
	invariants.Assert(len(b) >= 16, "wire: u128 read past the buffer")
	return Uint128{
		Lo: binary.LittleEndian.Uint64(b[0:8]),
		Hi: binary.LittleEndian.Uint64(b[8:16]),
	}
}

// Compare orders u128s by value (Hi, then Lo): -1, 0 or +1, as cmp.Compare
// (so slices.SortFunc(ids, wire.Uint128.Compare) sorts ascending).
func (u Uint128) Compare(v Uint128) int {
	return cmp.Or(cmp.Compare(u.Hi, v.Hi), cmp.Compare(u.Lo, v.Lo))
}

// Less reports whether u < v.
func (u Uint128) Less(v Uint128) bool { return u.Hi < v.Hi || (u.Hi == v.Hi && u.Lo < v.Lo) }
