//go:build linux

package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chronon-db/chronon/internal/invariants"
	"golang.org/x/sys/unix"
)

// FileStorage is Storage over a real file opened with O_DIRECT. Reads,
// writes and fdatasync run synchronously when submitted; their callbacks are
// queued and run from Tick, so callers see the same completion order rules
// as with an asynchronous backend.
//
// TODO(io): move the syscalls onto the io/ event loop once it is committed.
type FileStorage struct {
	fd       int
	size     uint64
	path     string
	readOnly bool
	queue    []fileCompletion
	running  []fileCompletion
}

type fileCompletion struct {
	cb  func(error)
	err error
}

// CreateFile creates path (which must not exist: ErrExists), allocates size
// bytes with fallocate, takes an exclusive flock, and fsyncs the file and its
// parent directory so the new name is durable.
func CreateFile(path string, size uint64) (*FileStorage, error) {
	if size == 0 || size%SectorSize != 0 {
		invariants.Failf("journal: file size %d not sector-aligned", size)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_DIRECT|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("%w: %s (refusing to overwrite)", ErrExists, path)
	}
	if errors.Is(err, unix.EINVAL) {
		return nil, fmt.Errorf("%w: create %s: file system does not support O_DIRECT", ErrIO, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create %s: %v", ErrIO, path, err)
	}
	f := &FileStorage{fd: fd, size: size, path: path}
	invariants.Assert(f.fd >= 0, "journal: created file without a descriptor")
	fail := func(step string, err error) (*FileStorage, error) {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("%w: %s %s: %v", ErrIO, step, path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("flock", err)
	}
	if err := unix.Fallocate(fd, 0, 0, int64(size)); err != nil {
		return fail("fallocate", err)
	}
	if err := unix.Fsync(fd); err != nil {
		return fail("fsync", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fail("fsync parent dir of", err)
	}
	return f, nil
}

// OpenFile opens an existing data file with O_DIRECT and an exclusive flock
// (a shared flock when readOnly). Its size is the file's size. A read-only
// open falls back to buffered I/O on file systems without O_DIRECT.
func OpenFile(path string, readOnly bool) (*FileStorage, error) {
	flags, lock := unix.O_RDWR, unix.LOCK_EX
	if readOnly {
		flags, lock = unix.O_RDONLY, unix.LOCK_SH
	}
	fd, err := unix.Open(path, flags|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EINVAL) && readOnly {
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrIO, path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: stat %s: %v", ErrIO, path, err)
	}
	if err := unix.Flock(fd, lock|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %w: %s is locked by another process: %v", ErrIO, ErrLocked, path, err)
	}
	if !readOnly {
		// Anything the page cache still holds from before a crash of another
		// opener must be on disk before we trust what we read.
		if err := unix.Fsync(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%w: fsync %s: %v", ErrIO, path, err)
		}
	}
	invariants.Assert(fd >= 0, "journal: opened file without a descriptor")
	size := uint64(st.Size) / SectorSize * SectorSize
	invariants.Assert(size <= uint64(st.Size) && size%SectorSize == 0, "journal: file size rounded up")
	return &FileStorage{fd: fd, size: size, path: path, readOnly: readOnly}, nil
}

func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// Close releases the lock and the file descriptor. Queued callbacks are
// dropped.
func (f *FileStorage) Close() error {
	f.queue = f.queue[:0]
	if err := unix.Close(f.fd); err != nil {
		return fmt.Errorf("%w: close %s: %v", ErrIO, f.path, err)
	}
	f.fd = -1
	return nil
}

// Size implements Storage.
func (f *FileStorage) Size() uint64 { return f.size }

// Read implements Storage.
func (f *FileStorage) Read(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, f.size)
	invariants.Assert(cb != nil && f.fd >= 0, "journal: read without a callback or on a closed file")
	var err error
	for done := 0; done < len(buf); {
		n, e := unix.Pread(f.fd, buf[done:], int64(offset)+int64(done))
		if errors.Is(e, unix.EINTR) {
			continue
		}
		if e != nil {
			err = e
			break
		}
		if n == 0 {
			err = fmt.Errorf("short read at %d", offset+uint64(done))
			break
		}
		done += n
	}
	f.queue = append(f.queue, fileCompletion{cb: cb, err: err})
}

// Write implements Storage.
func (f *FileStorage) Write(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, f.size)
	invariants.Assert(cb != nil && f.fd >= 0, "journal: write without a callback or on a closed file")
	invariants.Assert(!f.readOnly, "journal: write to a file opened read-only")
	var err error
	for done := 0; done < len(buf); {
		n, e := unix.Pwrite(f.fd, buf[done:], int64(offset)+int64(done))
		if errors.Is(e, unix.EINTR) {
			continue
		}
		if e != nil {
			err = e
			break
		}
		done += n
	}
	f.queue = append(f.queue, fileCompletion{cb: cb, err: err})
}

// WriteDurable implements Storage: Write, then fdatasync.
func (f *FileStorage) WriteDurable(buf []byte, offset uint64, cb func(error)) {
	invariants.Assert(cb != nil, "journal: durable write without a callback")
	invariants.Assert(!f.readOnly, "journal: durable write to a file opened read-only")
	f.Write(buf, offset, func(err error) {
		if err != nil {
			cb(err)
			return
		}
		f.Sync(cb)
	})
}

// Sync implements Storage with fdatasync (the file is preallocated, so no
// metadata beyond extent state needs to reach the disk).
func (f *FileStorage) Sync(cb func(error)) {
	invariants.Assert(cb != nil && f.fd >= 0, "journal: sync without a callback or on a closed file")
	var err error
	for {
		err = unix.Fdatasync(f.fd)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	f.queue = append(f.queue, fileCompletion{cb: cb, err: err})
}

var _ Storage = (*FileStorage)(nil)

// Tick implements Storage: it runs the callbacks queued before this call.
func (f *FileStorage) Tick() {
	f.running, f.queue = f.queue, f.running[:0]
	for i := range f.running {
		c := f.running[i]
		f.running[i] = fileCompletion{}
		c.cb(c.err)
	}
}
