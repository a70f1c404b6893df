package journal

import "errors"

// Error kinds. Every error the package returns for bad bytes or unusable
// inputs wraps one of them, so callers test with errors.Is.
var (
	// ErrCorrupt means bytes read from storage failed a checksum or a
	// consistency check (torn, bit-flipped, misdirected or stale data).
	ErrCorrupt = errors.New("journal: corrupt data")
	// ErrForeign means the file is not a Chronon data file of this format
	// version (wrong magic or version, or another cluster's file).
	ErrForeign = errors.New("journal: not a chronon data file")
	// ErrNoSuperblock means no quorum of superblock copies agrees.
	ErrNoSuperblock = errors.New("journal: no valid superblock quorum")
	// ErrExists means format was asked to create a file that exists.
	ErrExists = errors.New("journal: file exists")
	// ErrConfig means a Config or format parameter is unusable.
	ErrConfig = errors.New("journal: invalid config")
	// ErrGridFull means a checkpoint does not fit in the free grid blocks.
	ErrGridFull = errors.New("journal: grid full")
	// ErrNotFound means the requested entry is not (or no longer) stored.
	ErrNotFound = errors.New("journal: not found")
	// ErrIO means the storage reported an I/O error.
	ErrIO = errors.New("journal: storage i/o error")
	// ErrLocked means another open of the data file holds its lock
	// (OpenFile; wrapped with ErrIO).
	ErrLocked = errors.New("journal: data file locked")
)
