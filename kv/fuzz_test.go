package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// fuzzStore returns a small store with a few keys, nearly full.
func fuzzStore(t testing.TB) *harness {
	h := newHarness(t, Config{KeysMax: 6, ValueSizeMax: 16, ReplySizeLimit: 8 * 19})
	h.put("a", "1", "b", "22", "\x00", "", "k", "0123456789abcdef")
	return h
}

// FuzzApply feeds arbitrary bodies to Validate and Apply: the first byte
// picks the operation (128 + b%5, so an unknown one is covered), the rest
// is the body; the body is applied twice so that state changed by the first
// run is seen by the second. Apply must not panic, must stay within
// ReplySizeMax, must answer a rejected body with ResultInvalid and no
// change, must answer one result per record, and must keep the digest sum
// consistent.
func FuzzApply(f *testing.F) {
	for _, seed := range fuzzApplySeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		op := wire.OperationUserMin + wire.Operation(data[0]%5)
		body := data[1:]
		h := fuzzStore(t)
		for range 2 {
			digest := h.s.Digest()
			err := h.s.Validate(op, body)
			if err != nil && !errors.Is(err, statemachine.ErrInvalidInput) {
				t.Fatalf("Validate error %v does not wrap ErrInvalidInput", err)
			}
			reply := h.apply(op, body)
			if err != nil {
				if h.s.Digest() != digest {
					t.Fatal("invalid body changed the state")
				}
				if op <= OperationCompareAndSet && !bytes.Equal(reply, []byte{byte(ResultInvalid)}) {
					t.Fatalf("invalid body: reply %v", reply)
				}
				return
			}
			n, _ := records(&h.s.cfg, op, body)
			if op == OperationGet {
				for range n {
					_, _, size, err := DecodeGet(reply)
					if err != nil {
						t.Fatal(err)
					}
					reply = reply[size:]
				}
				if len(reply) != 0 {
					t.Fatal("trailing get reply bytes")
				}
			} else if len(reply) != n {
				t.Fatalf("%d results for %d records", len(reply), n)
			}
			if h.s.sum != recomputedSum(h.s) || h.s.Len() > 6 {
				t.Fatal("digest sum diverged or capacity exceeded")
			}
		}
	})
}

// FuzzRestore feeds arbitrary snapshots to Restore, as given and with a
// valid checksum appended. Restore must not panic; an accepted snapshot
// must snapshot back to the same bytes.
func FuzzRestore(f *testing.F) {
	for _, seed := range fuzzRestoreSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzStore(t).s
		sealed := append(bytes.Clone(data), make([]byte, 16)...)
		sum := wire.Checksum(data)
		binary.LittleEndian.PutUint64(sealed[len(data):], sum.Lo)
		binary.LittleEndian.PutUint64(sealed[len(data)+8:], sum.Hi)
		for _, snap := range [][]byte{data, sealed} {
			if err := s.Restore(snap); err != nil {
				if !errors.Is(err, statemachine.ErrInvalidInput) || s.Len() != 0 {
					t.Fatalf("Restore error %v (len %d)", err, s.Len())
				}
				continue
			}
			if !bytes.Equal(s.Snapshot(nil), snap) {
				t.Fatal("accepted snapshot is not canonical")
			}
			if s.sum != recomputedSum(s) {
				t.Fatal("digest sum diverged")
			}
		}
	})
}

func fuzzApplySeeds() [][]byte {
	op := func(o wire.Operation, body []byte) []byte {
		return append([]byte{byte(o - wire.OperationUserMin)}, body...)
	}
	put, _ := AppendPut(nil, []byte("a"), []byte("new"))
	put, _ = AppendPut(put, []byte("c"), []byte("3"))
	get, _ := AppendGet(nil, []byte("k"))
	get, _ = AppendGet(get, []byte("zz"))
	del, _ := AppendDelete(nil, []byte("b"))
	cas, _ := AppendCompareAndSet(nil, []byte("a"), []byte("1"), []byte("x"), 0)
	cas, _ = AppendCompareAndSet(cas, []byte("n"), nil, []byte("y"), CASExpectAbsent)
	return [][]byte{
		op(OperationPut, put), op(OperationGet, get), op(OperationDelete, del),
		op(OperationCompareAndSet, cas), op(OperationPut, put[:5]), {4, 1, 0, 'a'},
	}
}

func fuzzRestoreSeeds(t testing.TB) [][]byte {
	full := fuzzStore(t).s.Snapshot(nil)
	empty := newHarness(t, Config{KeysMax: 1}).s.Snapshot(nil)
	return [][]byte{full, empty, full[:30]}
}

// TestWriteFuzzCorpus writes the seeds as files under testdata/fuzz when
// CHRONON_WRITE_CORPUS=1 is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CHRONON_WRITE_CORPUS") != "1" {
		t.Skip("set CHRONON_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{"FuzzApply": fuzzApplySeeds(), "FuzzRestore": fuzzRestoreSeeds(t)} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
