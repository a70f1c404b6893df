// Package wire defines Chronon's message format: one fixed-size, 256-byte,
// little-endian header followed by a body of at most Config.MessageSizeMax-256
// bytes.
//
// Every message carries two xxh3-128 checksums. ChecksumBody covers the body;
// Checksum covers header bytes [16, 256), which include ChecksumBody, so a
// receiver can verify and then trust the header before it reads the body, and
// a verified header pins the body too.
//
// The usual receive path is:
//
//	var h wire.Header
//	if err := wire.DecodeHeader(raw[:wire.HeaderSize], &h, cfg); err != nil {
//		// drop and count: the bytes are not a valid header for this cluster
//	}
//	// read h.Size-wire.HeaderSize body bytes, then
//	if err := wire.VerifyBody(&h, body); err != nil { /* drop */ }
//
// and the send path encodes a Header into a buffer, writes the body after it
// and calls Seal. None of these functions allocate.
//
// The package also holds the message Pool: a fixed number of sector-aligned
// buffers of the maximum message size, reference counted so one buffer can be
// written to disk with O_DIRECT and sent to several peers without copying.
//
// The byte layout is documented in docs/protocol.md and enforced by
// TestHeaderLayout. The package knows nothing of replicas, storage or
// sockets: besides the standard library it uses only its checksum
// library and the assertion helper (internal/layering enforces it).
package wire
