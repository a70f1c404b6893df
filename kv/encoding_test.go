package kv

import (
	"bytes"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestEncodingLayout pins the documented request and reply layouts.
func TestEncodingLayout(t *testing.T) {
	m := must(t)
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"put", m(AppendPut(nil, []byte("ab"), []byte("xyz"))), []byte{2, 0, 3, 0, 'a', 'b', 'x', 'y', 'z'}},
		{"get", m(AppendGet(nil, []byte("ab"))), []byte{2, 0, 'a', 'b'}},
		{"delete", m(AppendDelete(nil, []byte("k"))), []byte{1, 0, 'k'}},
		{"cas", m(AppendCompareAndSet(nil, []byte("k"), []byte("e"), []byte("vv"), 0)), []byte{1, 0, 0, 0, 1, 0, 2, 0, 'k', 'e', 'v', 'v'}},
		{"cas absent", m(AppendCompareAndSet(nil, []byte("k"), nil, nil, CASExpectAbsent)), []byte{1, 0, 1, 0, 0, 0, 0, 0, 'k'}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, tt.got, tt.want)
		}
	}
	h := newHarness(t, Config{KeysMax: 2})
	h.put("ab", "xyz")
	reply := h.apply(OperationGet, m(AppendGet(m(AppendGet(nil, []byte("ab"))), []byte("q"))))
	if want := []byte{0, 3, 0, 'x', 'y', 'z', 1, 0, 0}; !bytes.Equal(reply, want) {
		t.Errorf("get reply % x, want % x", reply, want)
	}
	if ReplySizeLimitFor(wire.MessageSizeMaxProduction) != ReplySizeLimitDefault {
		t.Error("ReplySizeLimitDefault")
	}
}
