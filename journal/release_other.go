//go:build !linux

package journal

// ReleaseMemory zeroes b: without madvise the memory stays in use.
func ReleaseMemory(b []byte) { clear(b) }
