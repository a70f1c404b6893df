package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// SectorSize is the I/O granularity of the data file (wire.SectorSize).
const SectorSize = wire.SectorSize

// SuperblockCopies is the number of superblock copies at the start of the
// file. An update writes all of them; open needs SuperblockQuorum agreeing.
const SuperblockCopies = 4

// SuperblockQuorum is the number of byte-identical valid copies open needs.
const SuperblockQuorum = 2

// Config holds the static sizes of a data file. They are stored in the
// superblock, so a file describes itself; Layout derives zone offsets.
type Config struct {
	// MessageSizeMax is message_size_max: the size of a WAL prepare slot.
	// A multiple of SectorSize.
	MessageSizeMax uint32
	// SlotCount is the number of WAL slots (slot = op mod SlotCount).
	SlotCount uint32
	// ClientsMax is the number of client sessions (the replica's client
	// table; stored replies live in checkpoints, not in a zone of their
	// own).
	ClientsMax uint32
	// GridBlockSize is the size of one grid block, header included. A
	// multiple of SectorSize.
	GridBlockSize uint32
	// GridBlockCount is the number of grid blocks (addresses 1..count).
	GridBlockCount uint32
}

// Presets. Production follows TigerBeetle's published defaults (1 MiB
// messages, 1024 slots, 512 KiB blocks) with 1024 client sessions; Test is
// small so tests and the simulator exercise full zones cheaply. Each grid
// holds two checkpoints of the largest state `chronon start` admits with
// that preset (cmd/chronon: the ledger with its outbox; Config.CheckGrid):
// production 1384 of 1400 blocks, test 614 of 1024.
var (
	ConfigProduction = Config{
		MessageSizeMax: wire.MessageSizeMaxProduction,
		SlotCount:      1024,
		ClientsMax:     1024,
		GridBlockSize:  512 << 10,
		GridBlockCount: 1400,
	}
	ConfigTest = Config{
		MessageSizeMax: wire.MessageSizeMaxTest,
		SlotCount:      64,
		ClientsMax:     16,
		GridBlockSize:  8 << 10,
		GridBlockCount: 1024,
	}
)

// ClientsLimit bounds Config.ClientsMax (chronon format --clients-max).
const ClientsLimit = 1 << 12

// Limits on Config fields, so that sizes cannot overflow and buffers stay
// bounded.
const (
	slotCountMax      = 1 << 16
	clientsMax        = ClientsLimit
	gridBlockCountMax = 1 << 24
	gridBlockSizeMax  = 16 << 20
	messageSizeMaxMax = 64 << 20
)

// Preset returns the Config named "production" or "test".
func Preset(name string) (Config, error) {
	switch name {
	case "production":
		invariants.Assert(ConfigProduction.Check() == nil, "journal: the production preset is not a valid config")
		return ConfigProduction, nil
	case "test":
		invariants.Assert(ConfigTest.Check() == nil, "journal: the test preset is not a valid config")
		return ConfigTest, nil
	}
	return Config{}, fmt.Errorf("%w: unknown preset %q (want production or test)", ErrConfig, name)
}

// PresetName returns the name of the preset c is, or "" when it is none.
func PresetName(c Config) string {
	invariants.Assert(ConfigProduction != ConfigTest, "journal: the presets are not distinct")
	switch c {
	case ConfigProduction:
		invariants.Assert(ConfigProduction.Check() == nil, "journal: the production preset is not a valid config")
		return "production"
	case ConfigTest:
		invariants.Assert(ConfigTest.Check() == nil, "journal: the test preset is not a valid config")
		return "test"
	}
	return ""
}

// Check returns an error wrapping ErrConfig when c cannot describe a file.
func (c Config) Check() error {
	switch {
	case c.MessageSizeMax < SectorSize || c.MessageSizeMax%SectorSize != 0 || c.MessageSizeMax > messageSizeMaxMax:
		return fmt.Errorf("%w: message size max %d", ErrConfig, c.MessageSizeMax)
	case c.SlotCount < 2 || c.SlotCount > slotCountMax || c.SlotCount%(SectorSize/wire.HeaderSize) != 0:
		return fmt.Errorf("%w: slot count %d (must be a multiple of %d, at most %d)", ErrConfig, c.SlotCount, SectorSize/wire.HeaderSize, slotCountMax)
	case c.ClientsMax == 0 || c.ClientsMax > clientsMax:
		return fmt.Errorf("%w: clients max %d", ErrConfig, c.ClientsMax)
	case c.GridBlockSize < SectorSize || c.GridBlockSize%SectorSize != 0 || c.GridBlockSize > gridBlockSizeMax:
		return fmt.Errorf("%w: grid block size %d", ErrConfig, c.GridBlockSize)
	case c.GridBlockCount < 8 || c.GridBlockCount > gridBlockCountMax:
		return fmt.Errorf("%w: grid block count %d", ErrConfig, c.GridBlockCount)
	}
	// What the layout relies on: whole header sectors, room for a header
	// in every message and block.
	invariants.Assert(uint64(c.SlotCount)*wire.HeaderSize%SectorSize == 0, "journal: headers ring not whole sectors")
	invariants.Assert(c.MessageSizeMax > wire.HeaderSize && c.GridBlockSize > wire.HeaderSize, "journal: message or block without room for a header")
	return nil
}

// Zone is one region of the data file.
type Zone struct {
	// Name is the zone's name in docs/data-file.md and chronon inspect.
	Name string
	// Offset and Size are in bytes; both are multiples of SectorSize.
	Offset uint64
	Size   uint64
	// SlotSize is the size of one slot (copy, header sector, prepare, reply,
	// block) of the zone.
	SlotSize uint64
}

// End returns the first byte after the zone.
func (z Zone) End() uint64 {
	invariants.Assert(z.Offset+z.Size >= z.Offset, "journal: zone end overflows")
	invariants.Assert(z.SlotSize == 0 || z.Size%z.SlotSize == 0, "journal: zone not a whole number of slots")
	return z.Offset + z.Size
}

// Layout is the position of every zone of a data file with a given Config.
type Layout struct {
	// Config is the configuration the layout was computed from.
	Config Config
	// The zones, in file order (docs/data-file.md, "Zones").
	Superblock Zone
	WALHeaders Zone
	WALPrepare Zone
	Grid       Zone
	// Size is the file size in bytes.
	Size uint64
}

// NewLayout computes the layout of c. It returns an error wrapping ErrConfig
// when c is unusable.
func NewLayout(c Config) (Layout, error) {
	if err := c.Check(); err != nil {
		return Layout{}, err
	}
	l := Layout{Config: c}
	off := uint64(0)
	next := func(name string, slot, count uint64) Zone {
		z := Zone{Name: name, Offset: off, Size: slot * count, SlotSize: slot}
		off = z.End()
		return z
	}
	l.Superblock = next("superblock", SectorSize, SuperblockCopies)
	l.WALHeaders = next("wal_headers", SectorSize, uint64(c.SlotCount)*wire.HeaderSize/SectorSize)
	l.WALPrepare = next("wal_prepares", uint64(c.MessageSizeMax), uint64(c.SlotCount))
	l.Grid = next("grid", uint64(c.GridBlockSize), uint64(c.GridBlockCount))
	l.Size = off
	end := uint64(0)
	for _, z := range l.Zones() {
		if z.Offset != end || z.Offset%SectorSize != 0 || z.Size%SectorSize != 0 {
			invariants.Failf("journal: zone %s at %d, %d bytes, after end %d: not contiguous and sector-aligned", z.Name, z.Offset, z.Size, end)
		}
		invariants.Assert(z.SlotSize > 0 && z.Size%z.SlotSize == 0, "journal: zone not a whole number of slots")
		end = z.End()
	}
	invariants.Assert(l.Size == end && l.Superblock.Offset == 0, "journal: layout size is not the end of the grid")
	return l, nil
}

// Zones returns the zones in file order.
func (l *Layout) Zones() []Zone {
	invariants.Assert(l.Grid.End() == l.Size, "journal: layout not computed by NewLayout")
	invariants.Assert(l.Superblock.Offset == 0 && l.WALHeaders.Offset == l.Superblock.End(), "journal: layout zones out of order")
	return []Zone{l.Superblock, l.WALHeaders, l.WALPrepare, l.Grid}
}

// SuperblockOffset returns the offset of superblock copy i.
func (l *Layout) SuperblockOffset(i int) uint64 {
	if i < 0 || i >= SuperblockCopies {
		invariants.Failf("journal: superblock copy %d out of range", i)
	}
	off := l.Superblock.Offset + uint64(i)*SectorSize
	invariants.Assert(off+SectorSize <= l.Superblock.End(), "journal: superblock copy outside its zone")
	return off
}

// PrepareOffset returns the offset of WAL prepare slot slot.
func (l *Layout) PrepareOffset(slot uint32) uint64 {
	if slot >= l.Config.SlotCount {
		invariants.Failf("journal: slot %d out of range", slot)
	}
	off := l.WALPrepare.Offset + uint64(slot)*uint64(l.Config.MessageSizeMax)
	invariants.Assert(off+uint64(l.Config.MessageSizeMax) <= l.WALPrepare.End(), "journal: prepare slot outside its zone")
	return off
}

// HeaderSectorOffset returns the offset of the headers-ring sector that
// holds slot's redundant header.
func (l *Layout) HeaderSectorOffset(slot uint32) uint64 {
	if slot >= l.Config.SlotCount {
		invariants.Failf("journal: slot %d out of range", slot)
	}
	off := l.WALHeaders.Offset + uint64(slot)*wire.HeaderSize/SectorSize*SectorSize
	invariants.Assert(off%SectorSize == 0 && off+SectorSize <= l.WALHeaders.End(), "journal: header sector outside its zone")
	return off
}

// BlockOffset returns the offset of grid block address (1-based).
func (l *Layout) BlockOffset(address uint64) uint64 {
	if address == 0 || address > uint64(l.Config.GridBlockCount) {
		invariants.Failf("journal: grid address %d out of range", address)
	}
	off := l.Grid.Offset + (address-1)*uint64(l.Config.GridBlockSize)
	invariants.Assert(off+uint64(l.Config.GridBlockSize) <= l.Grid.End(), "journal: grid block outside its zone")
	return off
}

// SlotOf returns the WAL slot of op.
func (l *Layout) SlotOf(op uint64) uint32 {
	invariants.Assert(l.Config.SlotCount != 0, "journal: SlotOf on a layout without slots")
	slot := uint32(op % uint64(l.Config.SlotCount))
	invariants.Assert(slot < l.Config.SlotCount, "journal: slot outside the ring")
	return slot
}

// sectorRound rounds n up to a multiple of SectorSize.
func sectorRound(n uint64) uint64 {
	r := (n + SectorSize - 1) / SectorSize * SectorSize
	invariants.Assert(r >= n && r-n < SectorSize, "journal: sector rounding overflows")
	invariants.Assert(r%SectorSize == 0, "journal: sector rounding not a multiple of the sector")
	return r
}
