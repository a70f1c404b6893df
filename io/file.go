package io

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FileOptions configure OpenDataFile.
type FileOptions struct {
	// Size preallocates the file to at least Size bytes with fallocate(2)
	// (blocks reserved, not a sparse file). 0 leaves the size alone.
	Size int64
	// AllowDsync opens the file with O_DSYNC instead of O_DIRECT where the file
	// system refuses O_DIRECT (tmpfs on older kernels, some FUSE or network
	// file systems). Without it such file systems yield ErrDirectIOUnsupported.
	AllowDsync bool
}

// File is an open, exclusively locked data file: a regular file or a block
// device. Pass it to IO.ReadFile, IO.WriteFile and IO.WriteDurable.
type File struct {
	// Fd is the file descriptor (-1 after Close). Do not close it directly:
	// use Close, so that a File never names a descriptor number that was
	// closed and possibly reused (by a socket, say).
	Fd int
	// Path is the path the file was opened with.
	Path string
	// Direct reports whether O_DIRECT is in effect (else O_DSYNC is).
	Direct bool
	// Created reports whether this call created the file.
	Created bool
}

// OpenDataFile opens path read-write with O_DIRECT, creating it if missing. A
// created file is preallocated, fsynced, and its parent directory fsynced so the
// directory entry is durable. The file is locked with flock(LOCK_EX|LOCK_NB):
// while it is open, another OpenDataFile of the same file (from this or another
// process) fails with ErrLocked. Errors wrap the errno.
func OpenDataFile(path string, opts FileOptions) (*File, error) {
	if opts.Size < 0 {
		return nil, fmt.Errorf("%w: FileOptions.Size %d", ErrInvalid, opts.Size)
	}
	fd, direct, created, err := openFile(path, opts.AllowDsync)
	if err != nil {
		return nil, err
	}
	f := &File{Fd: fd, Path: path, Direct: direct, Created: created}
	if err := f.setUp(opts); err != nil {
		unix.Close(fd)
		if created {
			unix.Unlink(path)
		}
		return nil, err
	}
	return f, nil
}

func (f *File) setUp(opts FileOptions) error {
	// IO.ReadFile/WriteFile rely on this: pread/pwrite on a regular file or a
	// block device never wait for a peer, so they may block the loop briefly.
	var st unix.Stat_t
	if err := unix.Fstat(f.Fd, &st); err != nil {
		return fmt.Errorf("io: fstat %s: %w", f.Path, err)
	}
	if mode := uint32(st.Mode) & unix.S_IFMT; mode != unix.S_IFREG && mode != unix.S_IFBLK {
		return fmt.Errorf("%w: %s is not a regular file or block device (mode %#o)", ErrInvalid, f.Path, mode)
	}
	if err := unix.Flock(f.Fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return fmt.Errorf("%w: %s", ErrLocked, f.Path)
		}
		return fmt.Errorf("io: flock %s: %w", f.Path, err)
	}
	if opts.Size > 0 {
		if err := preallocate(f.Fd, opts.Size); err != nil {
			return fmt.Errorf("io: preallocate %s to %d bytes: %w", f.Path, opts.Size, err)
		}
	}
	if f.Created || opts.Size > 0 {
		if err := unix.Fsync(f.Fd); err != nil {
			return fmt.Errorf("io: fsync %s: %w", f.Path, err)
		}
	}
	if f.Created {
		if err := syncDir(filepath.Dir(f.Path)); err != nil {
			return err
		}
	}
	return nil
}

// Close unlocks and closes the file.
func (f *File) Close() error {
	if f.Fd < 0 {
		return nil
	}
	err := unix.Close(f.Fd) // closing the last descriptor releases the flock
	f.Fd = -1
	if err != nil {
		return fmt.Errorf("io: close %s: %w", f.Path, err)
	}
	return nil
}

// Size returns the file's current size in bytes.
func (f *File) Size() (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.Fd, &st); err != nil {
		return 0, fmt.Errorf("io: fstat %s: %w", f.Path, err)
	}
	return st.Size, nil
}

// syncDir fsyncs a directory so entries created in it survive a crash.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("io: open directory %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("io: fsync directory %s: %w", dir, err)
	}
	return nil
}

// openOrCreate opens path with flags, or creates it exclusively if missing.
func openOrCreate(path string, flags int) (fd int, created bool, err error) {
	for {
		fd, err = unix.Open(path, flags, 0)
		if err != unix.ENOENT {
			return fd, false, err
		}
		fd, err = unix.Open(path, flags|unix.O_CREAT|unix.O_EXCL, 0o644)
		if err != unix.EEXIST {
			return fd, err == nil, err
		}
	}
}

// ftruncateUp extends the file to size bytes; it never shrinks it.
func ftruncateUp(fd int, size int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Size >= size {
		return nil
	}
	return unix.Ftruncate(fd, size)
}
