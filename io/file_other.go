//go:build unix && !linux

package io

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// openFile: O_DIRECT is Linux-specific here, so other systems only get the
// synchronous (O_SYNC, which implies O_DSYNC) mode, and only when allowed.
func openFile(path string, allowDsync bool) (fd int, direct, created bool, err error) {
	if !allowDsync {
		return -1, false, false, fmt.Errorf("%w: open %s: O_DIRECT is only supported on Linux", ErrDirectIOUnsupported, path)
	}
	fd, created, err = openOrCreate(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_SYNC)
	if err != nil {
		return -1, false, false, fmt.Errorf("io: open %s with O_DSYNC: %w", path, err)
	}
	return fd, false, created, nil
}

func directIORefused(err error) bool { return false }

func preallocate(fd int, size int64) error { return ftruncateUp(fd, size) }
