package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

var fuzzWireConfig = wire.Config{Cluster: testCluster, ReplicaCount: 3, MessageSizeMax: ConfigTest.MessageSizeMax}

func superblockSeeds() [][]byte {
	var seeds [][]byte
	b := make([]byte, SectorSize)
	sb := testSuperblock()
	sb.Encode(b)
	seeds = append(seeds, append([]byte(nil), b...))
	b[sbView] ^= 1
	seeds = append(seeds, append([]byte(nil), b...))
	b[sbView] ^= 1
	b[sbVersion] = 9
	putU128(b, wire.Checksum(b[16:]))
	seeds = append(seeds, append([]byte(nil), b...), make([]byte, SectorSize), []byte("CHRONON"))
	return seeds
}

// FuzzDecodeSuperblock: decoding arbitrary bytes never panics, errors wrap
// a sentinel, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeSuperblock(f *testing.F) {
	for _, s := range superblockSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sb Superblock
		err := DecodeSuperblock(data, &sb)
		if err != nil {
			if !errorsIsAny(err, ErrCorrupt, ErrForeign) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		b := make([]byte, SectorSize)
		sb.Encode(b)
		if !bytes.Equal(b, data[:SectorSize]) {
			t.Fatal("decoded superblock does not re-encode to the same bytes")
		}
	})
}

func slotSeeds() [][3][]byte {
	c := newChain(ConfigTest, 3, func(uint64) int { return 300 })
	prep := c.msgs[2][:SectorSize]
	res := make([]byte, wire.HeaderSize)
	r := reservedHeader(testCluster, 2)
	r.Encode(res)
	other := make([]byte, wire.HeaderSize)
	h := reservedHeader(testCluster, 5)
	h.Encode(other)
	torn := append([]byte(nil), prep...)
	torn[wire.HeaderSize+10] ^= 1
	return [][3][]byte{
		{prep[:wire.HeaderSize], prep, {2}},
		{res, res, {2}},
		{res, prep, {2}},
		{prep[:wire.HeaderSize], res, {2}},
		{prep[:wire.HeaderSize], torn, {2}},
		{other, torn, {2}},
		{c.msgs[1][:wire.HeaderSize], prep, {2}},
		{prep[:wire.HeaderSize], prep, {3}},
	}
}

// FuzzClassifySlot: any redundant header and prepare bytes classify
// without panicking, and a slot is trusted only for bytes that verify.
func FuzzClassifySlot(f *testing.F) {
	for _, s := range slotSeeds() {
		f.Add(s[0], s[1], s[2][0])
	}
	f.Fuzz(func(t *testing.T, hraw, praw []byte, slot uint8) {
		const n = 64
		s := uint32(slot) % n
		var hh, ph wire.Header
		hs := ClassifyHeader(hraw, s, n, &fuzzWireConfig, &hh)
		ps := ClassifyPrepare(praw, s, n, &fuzzWireConfig, &ph)
		class, d := ClassifySlot(hs, &hh, ps, &ph)
		if hs == HeaderPrepare && (wire.Checksum(hraw[16:wire.HeaderSize]) != hh.Checksum || hh.Op%n != uint64(s)) {
			t.Fatal("trusted header does not verify")
		}
		if ps == PreparePrepare {
			if wire.VerifyBody(&ph, praw[wire.HeaderSize:ph.Size]) != nil || ph.Op%n != uint64(s) {
				t.Fatal("trusted prepare does not verify")
			}
		}
		switch d {
		case DecisionEql, DecisionFix:
			if ps != PreparePrepare {
				t.Fatalf("%s/%s trusts a prepare that is %s", class, d, ps)
			}
		case DecisionVSR:
			if hs != HeaderPrepare {
				t.Fatalf("%s/%s trusts a header that is %s", class, d, hs)
			}
		}
	})
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errorsIs(err, t) {
			return true
		}
	}
	return false
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from the seeds when
// CHRONON_WRITE_CORPUS=1; otherwise it checks the corpus exists.
func TestWriteFuzzCorpus(t *testing.T) {
	write := os.Getenv("CHRONON_WRITE_CORPUS") == "1"
	entries := map[string][]string{}
	for i, s := range superblockSeeds() {
		entries["FuzzDecodeSuperblock"] = append(entries["FuzzDecodeSuperblock"],
			fmt.Sprintf("seed%d\x00go test fuzz v1\n[]byte(%s)\n", i, strconv.Quote(string(s))))
	}
	for i, s := range slotSeeds() {
		entries["FuzzClassifySlot"] = append(entries["FuzzClassifySlot"],
			fmt.Sprintf("seed%d\x00go test fuzz v1\n[]byte(%s)\n[]byte(%s)\nbyte(%s)\n", i,
				strconv.Quote(string(s[0])), strconv.Quote(string(s[1])), strconv.QuoteRune(rune(s[2][0]))))
	}
	for _, name := range []string{"FuzzDecodeSuperblock", "FuzzClassifySlot"} {
		dir := filepath.Join("testdata", "fuzz", name)
		for _, e := range entries[name] {
			file, body, _ := bytes.Cut([]byte(e), []byte{0})
			path := filepath.Join(dir, string(file))
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, body, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if _, err := os.Stat(path); err != nil {
				t.Errorf("corpus file missing (run with CHRONON_WRITE_CORPUS=1): %v", err)
			}
		}
	}
}
