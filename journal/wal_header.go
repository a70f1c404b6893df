package journal

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// HeaderState is what one 256-byte WAL header (redundant or the prepare's
// own) turned out to be when read back.
type HeaderState uint8

// Header states.
const (
	// HeaderPrepare: a valid prepare header (checksum, fields, cluster) whose
	// op belongs to this slot.
	HeaderPrepare HeaderState = iota
	// HeaderReserved: the reserved header format writes into never-used
	// slots (command reserved, op = slot index).
	HeaderReserved
	// HeaderCorrupt: checksum mismatch or invalid fields (torn, bit rot,
	// never written).
	HeaderCorrupt
	// HeaderMisdirected: a valid header that belongs to another slot (a
	// misdirected write or read).
	HeaderMisdirected
)

var headerStateNames = [...]string{"prepare", "reserved", "corrupt", "misdirected"}

// String returns the state's name.
func (s HeaderState) String() string {
	invariants.Assert(len(headerStateNames) == int(HeaderMisdirected)+1, "journal: a header state without a name")
	if int(s) < len(headerStateNames) {
		return headerStateNames[s]
	}
	return "unknown"
}

// reservedHeader returns the header format writes into slot: command
// reserved, op = slot, checksums set. It marks a slot that never held a
// prepare, and its op lets a misdirected read be recognised.
func reservedHeader(cluster wire.Uint128, slot uint32) wire.Header {
	h := wire.Header{
		Cluster:  cluster,
		Op:       uint64(slot),
		Size:     wire.HeaderSize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandReserved,
	}
	wire.SealHeader(&h, nil)
	invariants.Assert(!h.Checksum.IsZero() && h.Command == wire.CommandReserved, "journal: reserved header not sealed")
	invariants.Assert(h.Op == uint64(slot) && h.Size == wire.HeaderSize, "journal: reserved header names another slot or has a body")
	return h
}

// ClassifyHeader decodes the WAL header raw[0:256] read from slot of a ring
// with slotCount slots. It never panics on the bytes of raw: anything that
// does not verify is HeaderCorrupt (a slot outside the ring is a caller
// bug, asserted). h is filled for HeaderPrepare, HeaderReserved and
// HeaderMisdirected.
func ClassifyHeader(raw []byte, slot, slotCount uint32, cfg *wire.Config, h *wire.Header) HeaderState {
	invariants.Assert(slot < slotCount, "journal: header classified for a slot outside the ring")
	if len(raw) < wire.HeaderSize {
		return HeaderCorrupt
	}
	raw = raw[:wire.HeaderSize]
	if wire.Checksum(raw[16:]) != getU128(raw) {
		return HeaderCorrupt
	}
	h.Decode(raw)
	if h.Command == wire.CommandReserved {
		want := reservedHeader(cfg.Cluster, uint32(h.Op%uint64(slotCount)))
		if *h != want {
			return HeaderCorrupt
		}
		if h.Op != uint64(slot) {
			return HeaderMisdirected
		}
		invariants.Assert(h.Size == wire.HeaderSize, "journal: reserved header with a body")
		return HeaderReserved
	}
	if err := h.Validate(cfg); err != nil || h.Command != wire.CommandPrepare {
		return HeaderCorrupt
	}
	if h.Op%uint64(slotCount) != uint64(slot) {
		return HeaderMisdirected
	}
	invariants.Assert(h.Command == wire.CommandPrepare && h.Size <= cfg.MessageSizeMax, "journal: header classified as a prepare is none")
	return HeaderPrepare
}

// PrepareState is what a WAL prepare slot turned out to be when read back.
type PrepareState uint8

// Prepare states.
const (
	// PreparePrepare: header and body verify; the op belongs to the slot.
	PreparePrepare PrepareState = iota
	// PrepareReserved: the slot holds the reserved header (never written).
	PrepareReserved
	// PrepareCorrupt: the prepare's header does not verify.
	PrepareCorrupt
	// PrepareTorn: the header verifies but the body does not (a torn or
	// bit-flipped body).
	PrepareTorn
	// PrepareMisdirected: a valid prepare of another slot.
	PrepareMisdirected
)

var prepareStateNames = [...]string{"prepare", "reserved", "corrupt", "torn", "misdirected"}

// String returns the state's name.
func (s PrepareState) String() string {
	invariants.Assert(len(prepareStateNames) == int(PrepareMisdirected)+1, "journal: a prepare state without a name")
	if int(s) < len(prepareStateNames) {
		return prepareStateNames[s]
	}
	return "unknown"
}

// ClassifyPrepare verifies the prepare slot contents raw (at least the
// sector-rounded prepare; normally message_size_max bytes) read from slot.
// It never panics on the bytes of raw. h is filled as by ClassifyHeader.
func ClassifyPrepare(raw []byte, slot, slotCount uint32, cfg *wire.Config, h *wire.Header) PrepareState {
	switch ClassifyHeader(raw, slot, slotCount, cfg, h) {
	case HeaderReserved:
		return PrepareReserved
	case HeaderCorrupt:
		return PrepareCorrupt
	case HeaderMisdirected:
		invariants.Assert(h.Op%uint64(slotCount) != uint64(slot), "journal: misdirected header belongs to its slot")
		if h.Command == wire.CommandReserved {
			return PrepareMisdirected
		}
		if int(h.Size) > len(raw) || wire.VerifyBody(h, raw[wire.HeaderSize:h.Size]) != nil {
			return PrepareCorrupt
		}
		return PrepareMisdirected
	}
	if int(h.Size) > len(raw) || wire.VerifyBody(h, raw[wire.HeaderSize:h.Size]) != nil {
		return PrepareTorn
	}
	invariants.Assert(h.Op%uint64(slotCount) == uint64(slot), "journal: prepare classified as its slot's belongs to another")
	return PreparePrepare
}
