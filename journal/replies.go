package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// WriteReply stores a sealed reply in client reply slot i and syncs. msg
// follows the buffer rules of WritePrepare (sector-aligned, capacity up to
// the sector-rounded size). An invalid reply or slot panics (caller bug).
func (j *Journal) WriteReply(i uint32, msg []byte) error {
	j.checkWritable()
	var h wire.Header
	// Paired with ReadReply: what is written passes the checks it is read
	// back with.
	if err := wire.DecodeHeader(msg, &h, &j.wcfg); err != nil || h.Command != wire.CommandReply {
		invariants.Failf("journal: WriteReply of an invalid reply: %v", err)
	}
	invariants.Assert(int(h.Size) <= len(msg) && wire.VerifyBody(&h, msg[wire.HeaderSize:h.Size]) == nil, "journal: WriteReply: body does not match header")
	n := sectorRound(uint64(h.Size))
	if uint64(cap(msg)) < n {
		invariants.Failf("journal: WriteReply: buffer capacity %d below the sector-rounded size %d", cap(msg), n)
	}
	invariants.Assert(n <= uint64(j.layout.Config.MessageSizeMax), "journal: reply larger than its slot")
	if err := j.io.write(msg[:n], j.layout.ReplyOffset(i)); err != nil {
		return err
	}
	return j.io.sync()
}

// ReadReply reads and verifies client reply slot i. The returned message
// aliases an internal buffer valid until the next ReadReply. Errors wrap
// ErrNotFound (the slot was never written) or ErrCorrupt.
func (j *Journal) ReadReply(i uint32) ([]byte, error) {
	off := j.layout.ReplyOffset(i)
	if err := j.io.read(j.replyBuf[:SectorSize], off); err != nil {
		return nil, err
	}
	empty := true
	for _, b := range j.replyBuf[:wire.HeaderSize] {
		empty = empty && b == 0
	}
	if empty {
		return nil, fmt.Errorf("%w: client reply slot %d is empty", ErrNotFound, i)
	}
	var h wire.Header
	if err := wire.DecodeHeader(j.replyBuf, &h, &j.wcfg); err != nil || h.Command != wire.CommandReply {
		return nil, fmt.Errorf("%w: client reply slot %d: header: %v", ErrCorrupt, i, err)
	}
	if n := sectorRound(uint64(h.Size)); n > SectorSize {
		if err := j.io.read(j.replyBuf[SectorSize:n], off+SectorSize); err != nil {
			return nil, err
		}
	}
	if err := wire.VerifyBody(&h, j.replyBuf[wire.HeaderSize:h.Size]); err != nil {
		return nil, fmt.Errorf("%w: client reply slot %d: %v", ErrCorrupt, i, err)
	}
	invariants.Assert(h.Command == wire.CommandReply && int(h.Size) <= len(j.replyBuf), "journal: verified reply is not a reply or exceeds its buffer")
	invariants.Assert(h.Size >= wire.HeaderSize, "journal: verified reply shorter than its header")
	return j.replyBuf[:h.Size], nil
}
