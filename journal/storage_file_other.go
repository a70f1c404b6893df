//go:build !linux

package journal

import "fmt"

// FileStorage is only implemented on Linux (O_DIRECT, fallocate, flock).
type FileStorage struct{ MemoryStorage }

// CreateFile is not supported on this platform.
func CreateFile(path string, size uint64) (*FileStorage, error) {
	return nil, fmt.Errorf("%w: data files need Linux", ErrIO)
}

// OpenFile is not supported on this platform.
func OpenFile(path string, readOnly bool) (*FileStorage, error) {
	return nil, fmt.Errorf("%w: data files need Linux", ErrIO)
}

// Close does nothing.
func (f *FileStorage) Close() error { return nil }
