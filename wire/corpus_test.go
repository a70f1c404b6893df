package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSeedCorpus regenerates the committed seed corpus under
// testdata/fuzz when CHRONON_WRITE_CORPUS=1; otherwise it checks that the
// corpus is present, so a missing corpus fails the build instead of silently
// fuzzing from nothing.
func TestWriteSeedCorpus(t *testing.T) {
	targets := []string{"FuzzDecodeHeader", "FuzzValidateHeader"}
	if os.Getenv("CHRONON_WRITE_CORPUS") != "1" {
		for _, target := range targets {
			entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
			if err != nil || len(entries) < int(commandCount)-1 {
				t.Fatalf("seed corpus for %s missing or short (%v); regenerate with CHRONON_WRITE_CORPUS=1", target, err)
			}
		}
		return
	}
	for _, target := range targets {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		seeds := map[string]Header{"seed-eviction-too_many_connections": refusalHeader()}
		for c := Command(1); c < commandCount; c++ {
			seeds["seed-"+c.String()] = validHeader(c)
		}
		for name, h := range seeds {
			msg := sealed(&h)
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", msg)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
