package wire

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/zeebo/xxh3"
)

// Checksum returns the xxh3-128 checksum of b. It is the one checksum used
// for message headers, bodies, WAL entries and grid blocks.
func Checksum(b []byte) Uint128 {
	s := xxh3.Hash128(b)
	return Uint128{Lo: s.Lo, Hi: s.Hi}
}

// checksumHeader returns the checksum that belongs in the Checksum field of the
// encoded header b: it covers bytes [16, 256), ChecksumBody included.
func checksumHeader(b []byte) Uint128 {
	invariants.Assert(len(b) >= HeaderSize, "wire: header checksum over a short buffer")
	return Checksum(b[OffsetChecksumBody:HeaderSize])
}

// Seal finishes a message in place: msg holds an encoded header followed by
// the body, and len(msg) must equal the header's Size. Seal sets ChecksumBody
// from the body, then Checksum over the header, both in msg and in h. It
// panics when len(msg) and h.Size disagree, since that is a bug in the caller.
func Seal(h *Header, msg []byte) {
	if len(msg) != int(h.Size) || len(msg) < HeaderSize {
		panic("wire.Seal: message length " + itoa(uint64(len(msg))) +
			" does not match header size " + itoa(uint64(h.Size)))
	}
	h.ChecksumBody = Checksum(msg[HeaderSize:])
	putUint128(msg[OffsetChecksumBody:], h.ChecksumBody)
	h.Encode(msg[:HeaderSize])
	h.Checksum = checksumHeader(msg)
	putUint128(msg[OffsetChecksum:], h.Checksum)
	if invariants.Enabled {
		// Paired with DecodeHeader and VerifyBody: the sealed message
		// passes the checksum checks its receiver makes.
		invariants.Assert(checksumHeader(msg) == getUint128(msg[OffsetChecksum:]), "wire: sealed header does not verify")
		invariants.Assert(Checksum(msg[HeaderSize:]) == getUint128(msg[OffsetChecksumBody:]), "wire: sealed body does not verify")
	}
}

// SealHeader sets h's checksums for the given body and returns nothing else;
// use it when header and body live in separate buffers. It panics when
// len(body) does not match h.Size.
func SealHeader(h *Header, body []byte) {
	if int(h.Size) != HeaderSize+len(body) {
		panic("wire.SealHeader: body length " + itoa(uint64(len(body))) +
			" does not match header size " + itoa(uint64(h.Size)))
	}
	h.ChecksumBody = Checksum(body)
	var b [HeaderSize]byte
	h.Encode(b[:])
	h.Checksum = checksumHeader(b[:])
	invariants.Assert(h.BodySize() == len(body), "wire: sealed header announces another body length")
}
