package journal

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// CopyStatus describes one superblock copy as read.
type CopyStatus struct {
	// Err is nil for a copy that decodes and verifies.
	Err error
	// Sequence and Checksum are the copy's, when it verifies.
	Sequence uint64
	Checksum wire.Uint128
	// Chosen is true when the copy equals the superblock that was picked.
	Chosen bool
}

// ReadSuperblock reads every superblock copy from s and picks the current
// superblock: among valid copies, the highest sequence held by at least
// SuperblockQuorum byte-identical copies. A half-written update reaches at
// most one copy before the next sync and so never wins. Errors wrap
// ErrForeign (no copy carries our magic, or a different format version) or
// ErrNoSuperblock (no quorum).
func ReadSuperblock(s Storage) (Superblock, [SuperblockCopies]CopyStatus, error) {
	var copies [SuperblockCopies]CopyStatus
	var decoded [SuperblockCopies]Superblock
	if s.Size() < SuperblockCopies*SectorSize {
		err := fmt.Errorf("%w: file of %d bytes is too small", ErrForeign, s.Size())
		for i := range copies {
			copies[i].Err = err
		}
		return Superblock{}, copies, err
	}
	buf := alignedBuffer(SectorSize)
	io := newSyncIO(s)
	foreign := 0
	var foreignErr, versionErr error
	for i := range copies {
		if err := io.read(buf, uint64(i)*SectorSize); err != nil {
			return Superblock{}, copies, err
		}
		copies[i].Err = DecodeSuperblock(buf, &decoded[i])
		if copies[i].Err == nil {
			copies[i].Sequence, copies[i].Checksum = decoded[i].Sequence, decoded[i].Checksum
		} else if errors.Is(copies[i].Err, ErrForeign) {
			foreign++
			foreignErr = copies[i].Err
			if !errors.Is(foreignErr, errBadMagic) {
				versionErr = foreignErr
			}
		}
	}
	best := -1
	ambiguous := false
	for i := range copies {
		if copies[i].Err != nil {
			continue
		}
		votes := 0
		for k := range copies {
			if copies[k].Err == nil && copies[k].Checksum == copies[i].Checksum {
				votes++
			}
		}
		invariants.Assert(votes >= 1, "journal: a valid superblock copy does not vote for itself")
		if votes < SuperblockQuorum {
			continue
		}
		switch {
		case best < 0 || decoded[i].Sequence > decoded[best].Sequence:
			best, ambiguous = i, false
		case decoded[i].Sequence == decoded[best].Sequence && decoded[i].Checksum != decoded[best].Checksum:
			ambiguous = true
		}
	}
	if best < 0 || ambiguous {
		if versionErr != nil {
			return Superblock{}, copies, versionErr
		}
		if foreign == SuperblockCopies {
			return Superblock{}, copies, foreignErr
		}
		return Superblock{}, copies, fmt.Errorf("%w: %s", ErrNoSuperblock, describeCopies(&copies))
	}
	chosen := 0
	for i := range copies {
		copies[i].Chosen = copies[i].Err == nil && copies[i].Checksum == decoded[best].Checksum
		if copies[i].Chosen {
			chosen++
			invariants.Assert(decoded[i] == decoded[best], "journal: copies with one checksum decode differently")
		}
	}
	invariants.Assert(chosen >= SuperblockQuorum && copies[best].Chosen, "journal: superblock chosen without a quorum")
	return decoded[best], copies, nil
}

func describeCopies(c *[SuperblockCopies]CopyStatus) string {
	s := ""
	for i := range c {
		if i > 0 {
			s += "; "
		}
		if c[i].Err != nil {
			s += fmt.Sprintf("copy %d: %v", i, c[i].Err)
		} else {
			s += fmt.Sprintf("copy %d: sequence %d", i, c[i].Sequence)
		}
	}
	return s
}

// writeSuperblockCopies writes sb (already encoded into j.sbBuf) to every
// copy for which only(i) is true, in copy order, syncing after each, so a
// crash leaves at most one copy half-written.
func (j *Journal) writeSuperblockCopies(only func(i int) bool) error {
	invariants.Assert(!j.readOnly, "journal: superblock write on a read-only journal")
	// No superblock write finds a write pending: a block written ahead
	// completes first (nothing references it yet, but the rule is
	// simpler to check whole; sim's write-order checker does).
	if err := j.AwaitPrewrite(); err != nil {
		return err
	}
	invariants.Assert(only != nil, "journal: superblock write without a copy filter")
	if invariants.Enabled {
		// Paired with ReadSuperblock: the sector written decodes.
		var got Superblock
		if err := DecodeSuperblock(j.sbBuf, &got); err != nil {
			invariants.Failf("journal: superblock about to be written does not decode: %v", err)
		}
	}
	for i := 0; i < SuperblockCopies; i++ {
		if !only(i) {
			continue
		}
		if err := j.io.write(j.sbBuf, j.layout.SuperblockOffset(i)); err != nil {
			return err
		}
		if err := j.io.sync(); err != nil {
			return err
		}
	}
	return nil
}

// writeSuperblock makes next the durable VSR state: a new superblock with
// sequence+1 and parent = the current checksum, written to every copy. The
// in-memory superblock changes only once all copies are durable.
func (j *Journal) writeSuperblock(next VSRState) error {
	checkAdvance(&j.sb.VSR, &next)
	sb := j.sb
	sb.Parent = j.sb.Checksum
	sb.Sequence++
	sb.VSR = next
	// Paired with DecodeSuperblock: what is written passes the checks it
	// is read back with.
	if err := sb.check(); err != nil {
		invariants.Failf("journal: superblock about to be written fails its read checks: %v", err)
	}
	sb.Encode(j.sbBuf)
	invariants.Assert(sb.Checksum != sb.Parent && sb.Sequence == j.sb.Sequence+1, "journal: superblock update does not chain from the current one")
	if invariants.Enabled {
		var got Superblock
		invariants.Assert(DecodeSuperblock(j.sbBuf, &got) == nil && got == sb, "journal: superblock does not decode as written")
	}
	if err := j.writeSuperblockCopies(func(int) bool { return true }); err != nil {
		return err
	}
	j.sb = sb
	return nil
}
