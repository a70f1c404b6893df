package io

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// openFile opens (or creates) path with O_DIRECT, or with O_DSYNC if the file
// system refuses O_DIRECT and allowDsync is set.
func openFile(path string, allowDsync bool) (fd int, direct, created bool, err error) {
	base := unix.O_RDWR | unix.O_CLOEXEC
	var st unix.Stat_t
	existed := unix.Stat(path, &st) == nil
	fd, created, err = openOrCreate(path, base|unix.O_DIRECT)
	if err == nil {
		return fd, true, created, nil
	}
	if !directIORefused(err) {
		return -1, false, false, fmt.Errorf("io: open %s: %w", path, err)
	}
	if !existed {
		unix.Unlink(path) // some file systems create the file, then refuse O_DIRECT
	}
	if !allowDsync {
		return -1, false, false, fmt.Errorf("%w: open %s: %w", ErrDirectIOUnsupported, path, err)
	}
	fd, created, err = openOrCreate(path, base|unix.O_DSYNC)
	if err != nil {
		return -1, false, false, fmt.Errorf("io: open %s with O_DSYNC: %w", path, err)
	}
	return fd, false, created, nil
}

// directIORefused tells an open(2) error meaning "no O_DIRECT here" (EINVAL,
// as tmpfs before Linux 6.6 and several FUSE file systems answer).
func directIORefused(err error) bool { return err == unix.EINVAL }

// preallocate reserves blocks for [0, size) so later writes do not allocate.
func preallocate(fd int, size int64) error {
	for {
		err := unix.Fallocate(fd, 0, 0, size)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP:
			return ftruncateUp(fd, size) // file system without fallocate: at least set the size
		}
		return err
	}
}
