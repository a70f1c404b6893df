package ledger

import (
	"encoding/binary"
	"math/bits"

	"github.com/chronon-db/chronon/wire"
)

// maxUint128 is 2^128-1, the id value reserved as "int max".
var maxUint128 = wire.Uint128{Lo: ^uint64(0), Hi: ^uint64(0)}

// add128 returns a+b and whether the sum overflowed 128 bits.
func add128(a, b wire.Uint128) (wire.Uint128, bool) {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	hi, c := bits.Add64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}, c != 0
}

// sub128 returns a-b modulo 2^128.
func sub128(a, b wire.Uint128) wire.Uint128 {
	lo, c := bits.Sub64(a.Lo, b.Lo, 0)
	hi, _ := bits.Sub64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}
}

// wrapAdd128 returns a+b modulo 2^128.
func wrapAdd128(a, b wire.Uint128) wire.Uint128 {
	s, _ := add128(a, b)
	return s
}

// getUint128 reads a little-endian u128 from b[0:16].
func getUint128(b []byte) wire.Uint128 {
	return wire.Uint128{
		Lo: binary.LittleEndian.Uint64(b[0:8]),
		Hi: binary.LittleEndian.Uint64(b[8:16]),
	}
}

// putUint128 writes u little-endian at b[0:16].
func putUint128(b []byte, u wire.Uint128) {
	binary.LittleEndian.PutUint64(b[0:8], u.Lo)
	binary.LittleEndian.PutUint64(b[8:16], u.Hi)
}

// PutID writes id as a 16-byte lookup event at b[0:16].
func PutID(b []byte, id wire.Uint128) { putUint128(b, id) }

// AppendID appends id as a 16-byte lookup event to dst.
func AppendID(dst []byte, id wire.Uint128) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, id.Lo)
	return binary.LittleEndian.AppendUint64(dst, id.Hi)
}
