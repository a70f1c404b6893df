package client

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

func pair(index uint32, result ledger.Result) []byte {
	b := make([]byte, 8)
	ledger.EventResult{Index: index, Result: result}.Encode(b)
	return b
}

func TestSplitCreateResults(t *testing.T) {
	// Three calls of 2, 3 and 1 transfers; events 1, 2 and 5 failed.
	bounds := []int{0, 2 * 128, 5 * 128, 6 * 128}
	reply := append(append(pair(1, ledger.ResultExceedsCredits), pair(2, ledger.ResultExists)...), pair(5, ledger.ResultAmountMustNotBeZero)...)
	parts, err := splitCreateResults(128)(nil, reply, bounds)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]ledger.EventResult{
		{{Index: 1, Result: ledger.ResultExceedsCredits}},
		{{Index: 0, Result: ledger.ResultExists}},
		{{Index: 0, Result: ledger.ResultAmountMustNotBeZero}},
	}
	for k := range want {
		got, err := decodeEventResults(parts[k])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want[k]) || (len(got) > 0 && got[0] != want[k][0]) {
			t.Fatalf("call %d: got %+v, want %+v", k, got, want[k])
		}
	}
	if _, err := splitCreateResults(128)(nil, pair(9, ledger.ResultExists), bounds); !errors.Is(err, ErrInvalidReply) {
		t.Fatalf("index beyond request: %v", err)
	}
	if _, err := splitCreateResults(128)(nil, []byte{1, 2, 3}, bounds); !errors.Is(err, ErrInvalidReply) {
		t.Fatalf("ragged reply: %v", err)
	}
}

func TestSplitLookups(t *testing.T) {
	ids := []wire.Uint128{{Lo: 1}, {Lo: 2}, {Lo: 3}, {Lo: 4}}
	request := encodeIDs(ids)
	bounds := []int{0, 32, 64} // calls: {1,2} and {3,4}
	record := func(id uint64) []byte {
		b := make([]byte, 128)
		binary.LittleEndian.PutUint64(b, id)
		return b
	}
	// 2 and 3 are missing.
	reply := append(record(1), record(4)...)
	parts, err := splitLookups(128)(request, reply, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts[0]) != 128 || binary.LittleEndian.Uint64(parts[0]) != 1 || len(parts[1]) != 128 || binary.LittleEndian.Uint64(parts[1]) != 4 {
		t.Fatalf("parts %v", parts)
	}
	if _, err := splitLookups(128)(request, record(9), bounds); !errors.Is(err, ErrInvalidReply) {
		t.Fatalf("unrequested id: %v", err)
	}
}
