package io

import "testing"

func TestAlignedBuffer(t *testing.T) {
	for _, size := range []int{0, 1, 512, SectorSize, 3 * SectorSize, 1 << 20} {
		b := AlignedBuffer(size)
		if len(b) != size || cap(b) != size {
			t.Errorf("AlignedBuffer(%d): len %d cap %d", size, len(b), cap(b))
		}
		if size > 0 && !IsAligned(b[:size/SectorSize*SectorSize]) {
			t.Errorf("AlignedBuffer(%d) not aligned", size)
		}
	}
	if IsAligned(AlignedBuffer(2 * SectorSize)[1 : SectorSize+1]) {
		t.Error("IsAligned accepts a misaligned start")
	}
	if IsAligned(AlignedBuffer(SectorSize)[:100]) {
		t.Error("IsAligned accepts a partial sector")
	}
	defer func() {
		if recover() == nil {
			t.Error("negative size did not panic")
		}
	}()
	AlignedBuffer(-1)
}
