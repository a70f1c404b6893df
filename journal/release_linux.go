package journal

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chronon-db/chronon/internal/invariants"
)

// ReleaseMemory gives the whole memory pages inside b back to the
// operating system (madvise MADV_DONTNEED): they read as zeros afterwards
// and take no memory until written again. Bytes of b outside whole pages
// keep their contents.
func ReleaseMemory(b []byte) {
	page := uintptr(unix.Getpagesize())
	if uintptr(len(b)) < page {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if hi <= lo {
		return
	}
	invariants.Assert(lo >= start && hi <= start+uintptr(len(b)), "journal: pages released outside their buffer")
	// The advice cannot fail on anonymous memory the process owns; if it
	// did, the pages stay resident, which is only a cost.
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED)
}
