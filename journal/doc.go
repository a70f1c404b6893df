// Package journal owns Chronon's data file: one preallocated file, opened
// with O_DIRECT, holding (in this order, every zone 4096-byte aligned)
//
//   - the superblock: SuperblockCopies identical checksummed copies of the
//     durable VSR state (view, log_view, commit numbers, the checkpoint and
//     the grid references of its blobs);
//   - the WAL headers ring: one 256-byte wire.Header per slot, the redundant
//     copy of each prepare's header, written in 4096-byte sectors;
//   - the WAL prepares ring: one message_size_max slot per op (slot = op mod
//     slot_count) holding the whole prepare;
//   - the grid: fixed-size blocks addressed from 1, each starting with a
//     256-byte header, referenced by (address, checksum).
//
// docs/data-file.md describes the byte layout, the write protocols and the
// recovery case table. The journal talks to the file only through Storage,
// so tests and the simulator can use MemoryStorage to inject faults.
//
// The journal is deterministic: no goroutines, no clock, no map iteration.
// Bytes read from storage never cause a panic; they yield errors wrapping
// ErrCorrupt, ErrForeign or ErrNoSuperblock. A broken internal invariant
// (a caller bug) panics.
package journal
