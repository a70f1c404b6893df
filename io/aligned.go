package io

import "unsafe"

// SectorSize is the alignment O_DIRECT needs for buffer addresses, lengths and
// file offsets (the logical block size of every device Chronon targets).
const SectorSize = 4096

// AlignedBuffer returns a zeroed buffer of size bytes whose first byte is
// SectorSize-aligned, for O_DIRECT reads and writes. Its capacity equals its
// length, so appending reallocates (and loses the alignment). It allocates;
// call it at start-up. A negative size panics, as with make.
func AlignedBuffer(size int) []byte {
	if size < 0 {
		panic("io: AlignedBuffer: negative size")
	}
	b := make([]byte, size+SectorSize)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (SectorSize - 1))
	return b[off : off+size : off+size]
}

// IsAligned reports whether b starts on a SectorSize boundary and its length is
// a multiple of SectorSize, as O_DIRECT requires.
func IsAligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%SectorSize == 0 && len(b)%SectorSize == 0
}
