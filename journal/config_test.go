package journal

import (
	"errors"
	"testing"
)

func TestLayoutPresets(t *testing.T) {
	for _, name := range []string{"production", "test"} {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLayout(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		end := uint64(0)
		for _, z := range l.Zones() {
			if z.Offset != end {
				t.Errorf("%s: zone %s at %d, previous ends at %d", name, z.Name, z.Offset, end)
			}
			if z.Offset%SectorSize != 0 || z.Size%SectorSize != 0 || z.Size == 0 {
				t.Errorf("%s: zone %s not sector aligned: %+v", name, z.Name, z)
			}
			end = z.End()
		}
		if end != l.Size {
			t.Errorf("%s: zones end at %d, size %d", name, end, l.Size)
		}
	}
	if ConfigProduction.SlotCount < 1024 || ConfigProduction.MessageSizeMax != 1<<20 || ConfigProduction.GridBlockSize < 64<<10 {
		t.Errorf("production preset too small: %+v", ConfigProduction)
	}
	if _, err := Preset("huge"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestConfigCheckRejects(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.MessageSizeMax = 1000 },
		func(c *Config) { c.SlotCount = 17 },
		func(c *Config) { c.SlotCount = 0 },
		func(c *Config) { c.ClientsMax = 0 },
		func(c *Config) { c.GridBlockSize = 4097 },
		func(c *Config) { c.GridBlockCount = 1 },
	}
	for i, f := range bad {
		c := ConfigTest
		f(&c)
		if _, err := NewLayout(c); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestLayoutOffsets(t *testing.T) {
	l, _ := NewLayout(ConfigTest)
	if got := l.HeaderSectorOffset(17); got != l.WALHeaders.Offset+SectorSize {
		t.Errorf("header sector of slot 17 at %d", got)
	}
	if got := l.PrepareOffset(3); got != l.WALPrepare.Offset+3*uint64(ConfigTest.MessageSizeMax) {
		t.Errorf("prepare slot 3 at %d", got)
	}
	if got := l.BlockOffset(1); got != l.Grid.Offset {
		t.Errorf("block 1 at %d", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("block address 0 did not panic")
		}
	}()
	l.BlockOffset(0)
}
