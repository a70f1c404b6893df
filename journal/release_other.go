//go:build !linux

package journal

// ReleaseMemory does nothing without madvise: the memory stays in use
// (b's contents are undefined to the caller either way).
func ReleaseMemory(b []byte) {}
