package bench

import (
	"bytes"
	"testing"

	"github.com/chronon-db/chronon/kv"
)

func TestKVKeysAreDistinct(t *testing.T) {
	for _, size := range []int{1, 2, 8, 16, 64} {
		n := uint64(1000)
		if size == 1 {
			n = 256
		}
		seen := map[string]bool{}
		key := make([]byte, size)
		for i := range n {
			KVKey(key, i)
			if seen[string(key)] {
				t.Fatalf("size %d: key %d repeats %x", size, i, key)
			}
			seen[string(key)] = true
		}
	}
}

// TestSplitKVReplies coalesces three calls of 1, 2 and 3 records the way
// the client does and checks that each gets its own results back.
func TestSplitKVReplies(t *testing.T) {
	var request []byte
	bounds := []int{0}
	for call, records := range []int{1, 2, 3} {
		for r := range records {
			request, _ = kv.AppendPut(request, []byte{byte(call), byte(r)}, bytes.Repeat([]byte{'v'}, call+r))
		}
		bounds = append(bounds, len(request))
	}
	reply := []byte{0, 1, 2, 3, 4, 5}
	parts, err := splitPuts(request, reply, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || !bytes.Equal(parts[0], []byte{0}) || !bytes.Equal(parts[1], []byte{1, 2}) || !bytes.Equal(parts[2], []byte{3, 4, 5}) {
		t.Fatalf("put parts %v", parts)
	}
	if _, err := splitPuts(request, reply[:5], bounds); err == nil {
		t.Fatal("short put reply split without error")
	}

	request, bounds = request[:0], []int{0}
	var getReply []byte
	for call, records := range []int{2, 1} {
		for r := range records {
			request, _ = kv.AppendGet(request, []byte{byte(call), byte(r)})
			getReply = append(getReply, byte(kv.ResultOK), byte(r+1), 0)
			getReply = append(getReply, bytes.Repeat([]byte{byte(call)}, r+1)...)
		}
		bounds = append(bounds, len(request))
	}
	parts, err = splitGets(request, getReply, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkGetReply(parts[0], 2); err != nil {
		t.Errorf("first call: %v", err)
	}
	if err := checkGetReply(parts[1], 1); err != nil {
		t.Errorf("second call: %v", err)
	}
	if !bytes.Equal(parts[1], []byte{0, 1, 0, 1}) {
		t.Errorf("second call's reply %v", parts[1])
	}
	if _, err := splitGets(request, getReply[:len(getReply)-1], bounds); err == nil {
		t.Fatal("truncated get reply split without error")
	}
}

func TestCheckPutReply(t *testing.T) {
	if err := checkPutReply([]byte{0, 0}, 2); err != nil {
		t.Fatal(err)
	}
	if err := checkPutReply([]byte{0, byte(kv.ResultFull)}, 2); err == nil {
		t.Fatal("full put accepted")
	}
	if err := checkPutReply([]byte{0}, 2); err == nil {
		t.Fatal("short reply accepted")
	}
}

// FuzzSplitKVReplies: a reply from the cluster is external bytes; whatever
// it holds, the splitters return parts or an error, never panic, and parts
// never reach beyond the reply.
func FuzzSplitKVReplies(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5}, uint8(3))
	f.Add([]byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, reply []byte, calls uint8) {
		var request []byte
		bounds := []int{0}
		for call := range int(calls%4) + 1 {
			request, _ = kv.AppendPut(request, []byte{byte(call)}, []byte{'v'})
			bounds = append(bounds, len(request))
		}
		for _, split := range []func(request, reply []byte, bounds []int) ([][]byte, error){splitPuts, splitGets} {
			parts, err := split(request, reply, bounds)
			if err != nil {
				continue
			}
			total := 0
			for _, p := range parts {
				total += len(p)
			}
			if total > len(reply) {
				t.Fatalf("parts of %d bytes from a reply of %d", total, len(reply))
			}
		}
	})
}
