package kv

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func TestResults(t *testing.T) {
	h := newHarness(t, Config{KeysMax: 3, ValueSizeMax: 8})
	steps := []struct {
		name string
		do   func() []Result
		want []Result
	}{
		{"put new", func() []Result { return h.put("a", "1", "b", "") }, []Result{ResultOK, ResultOK}},
		{"put overwrite", func() []Result { return h.put("a", "22") }, []Result{ResultOK}},
		{"put full", func() []Result { return h.put("c", "3", "d", "4", "a", "x") }, []Result{ResultOK, ResultFull, ResultOK}},
		{"delete", func() []Result { return h.del("c", "c", "zz") }, []Result{ResultOK, ResultNotFound, ResultNotFound}},
		{"cas ok", func() []Result { return []Result{h.cas("a", "x", "y", 0)} }, []Result{ResultOK}},
		{"cas mismatch", func() []Result { return []Result{h.cas("a", "x", "z", 0)} }, []Result{ResultCASMismatch}},
		{"cas not found", func() []Result { return []Result{h.cas("q", "", "z", 0)} }, []Result{ResultNotFound}},
		{"cas absent mismatch", func() []Result { return []Result{h.cas("a", "", "z", CASExpectAbsent)} }, []Result{ResultCASMismatch}},
		{"cas absent ok", func() []Result { return []Result{h.cas("c", "", "new", CASExpectAbsent)} }, []Result{ResultOK}},
		{"cas absent full", func() []Result { return []Result{h.cas("e", "", "z", CASExpectAbsent)} }, []Result{ResultFull}},
		{"cas empty expected", func() []Result { return []Result{h.cas("b", "", "bb", 0)} }, []Result{ResultOK}},
	}
	for _, st := range steps {
		if got := st.do(); !slices.Equal(got, st.want) {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
	}
	got := h.get("a", "b", "c", "d", "a")
	want := []getResult{{ResultOK, "y"}, {ResultOK, "bb"}, {ResultOK, "new"}, {ResultNotFound, ""}, {ResultOK, "y"}}
	if !slices.Equal(got, want) {
		t.Fatalf("get: %v, want %v", got, want)
	}
	if h.s.Len() != 3 {
		t.Fatalf("Len %d", h.s.Len())
	}
}

func TestKeysOfDifferentLengthsDiffer(t *testing.T) {
	h := newHarness(t, Config{KeysMax: 4})
	h.put("a", "1", "a\x00", "2", strings.Repeat("k", 64), "3")
	got := h.get("a", "a\x00", "a\x00\x00", strings.Repeat("k", 64))
	want := []getResult{{ResultOK, "1"}, {ResultOK, "2"}, {ResultNotFound, ""}, {ResultOK, "3"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestValidate(t *testing.T) {
	s, err := New(Config{KeysMax: 4, ValueSizeMax: 8, ReplySizeLimit: 2 * 11})
	if err != nil {
		t.Fatal(err)
	}
	m := must(t)
	tests := []struct {
		name string
		op   wire.Operation
		body []byte
		want error
	}{
		{"empty", OperationPut, nil, nil},
		{"put", OperationPut, m(AppendPut(nil, []byte("k"), []byte("12345678"))), nil},
		{"two gets", OperationGet, m(AppendGet(m(AppendGet(nil, []byte("a"))), []byte("b"))), nil},
		{"delete", OperationDelete, m(AppendDelete(nil, []byte("a"))), nil},
		{"cas", OperationCompareAndSet, m(AppendCompareAndSet(nil, []byte("a"), []byte("b"), []byte("c"), 0)), nil},
		{"unknown op", OperationCompareAndSet + 1, nil, ErrOperation},
		{"reserved op", wire.OperationNoop, nil, ErrOperation},
		{"value too big", OperationPut, m(AppendPut(nil, []byte("k"), []byte("123456789"))), ErrValueSize},
		{"expected too big", OperationCompareAndSet, m(AppendCompareAndSet(nil, []byte("a"), []byte("123456789"), nil, 0)), ErrValueSize},
		{"key zero", OperationGet, []byte{0, 0}, ErrKeySize},
		{"key 65", OperationDelete, append([]byte{65, 0}, make([]byte, 65)...), ErrKeySize},
		{"truncated header", OperationPut, []byte{1, 0, 0}, ErrTruncated},
		{"truncated key", OperationGet, []byte{2, 0, 'a'}, ErrTruncated},
		{"truncated value", OperationPut, []byte{1, 0, 2, 0, 'k', 'v'}, ErrTruncated},
		{"trailing byte", OperationGet, []byte{1, 0, 'a', 1}, ErrTruncated},
		{"cas header", OperationCompareAndSet, make([]byte, 7), ErrTruncated},
		{"cas flags", OperationCompareAndSet, m(AppendCompareAndSet(nil, []byte("a"), nil, nil, 2)), ErrCASFlags},
		{"cas absent with expected", OperationCompareAndSet, m(AppendCompareAndSet(nil, []byte("a"), []byte("x"), nil, CASExpectAbsent)), ErrCASFlags},
		{"get reply too big", OperationGet, m(AppendGet(m(AppendGet(m(AppendGet(nil, []byte("a"))), []byte("b"))), []byte("c"))), ErrReplySize},
	}
	for _, tt := range tests {
		err := s.Validate(tt.op, tt.body)
		if err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if err := Validate(Config{ValueSizeMax: 8, ReplySizeLimit: 22}, tt.op, tt.body); err != tt.want {
			t.Errorf("%s: package Validate got %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && !errors.Is(err, statemachine.ErrInvalidInput) {
			t.Errorf("%s: %v does not wrap ErrInvalidInput", tt.name, err)
		}
	}
}

func TestApplyInvalidBody(t *testing.T) {
	h := newHarness(t, Config{KeysMax: 4, ValueSizeMax: 8})
	h.put("a", "1")
	digest := h.s.Digest()
	// A valid record followed by a truncated one: nothing is applied.
	body := append(must(t)(AppendPut(nil, []byte("b"), []byte("2"))), 1, 0, 5, 0, 'c')
	if got := h.apply(OperationPut, body); !bytes.Equal(got, []byte{byte(ResultInvalid)}) {
		t.Fatalf("put: reply %v", got)
	}
	for _, op := range []wire.Operation{OperationGet, OperationDelete, OperationCompareAndSet} {
		if got := h.apply(op, []byte{0}); !bytes.Equal(got, []byte{byte(ResultInvalid)}) {
			t.Fatalf("%s: reply %v", OperationName(op), got)
		}
	}
	// An unknown operation too (docs/state-machines.md: Validate rejects
	// it, and a rejected body is answered with the single byte invalid).
	if got := h.apply(200, []byte{1, 2, 3}); !bytes.Equal(got, []byte{byte(ResultInvalid)}) {
		t.Fatalf("unknown op: reply %v", got)
	}
	if n := h.s.ReplySizeMax(200, 3); n != 1 {
		t.Fatalf("unknown op: reply size max %d, want 1", n)
	}
	if h.s.Digest() != digest || h.s.Len() != 1 {
		t.Fatal("invalid bodies changed the state")
	}
	if r, _, n, err := DecodeGet([]byte{byte(ResultInvalid)}); r != ResultInvalid || n != 1 || err != nil {
		t.Fatal("DecodeGet of ResultInvalid")
	}
	if _, _, _, err := DecodeGet([]byte{0, 5, 0, 1}); err == nil {
		t.Fatal("DecodeGet of a truncated reply")
	}
}

func TestAppendErrors(t *testing.T) {
	if _, err := AppendPut(nil, nil, nil); !errors.Is(err, ErrKeySize) {
		t.Fatal(err)
	}
	if _, err := AppendGet(nil, make([]byte, 65)); !errors.Is(err, ErrKeySize) {
		t.Fatal(err)
	}
	if _, err := AppendCompareAndSet(nil, []byte("k"), nil, make([]byte, 1<<16), 0); !errors.Is(err, ErrValueSize) {
		t.Fatal(err)
	}
}

func TestNewConfig(t *testing.T) {
	for _, c := range []Config{{}, {KeysMax: -1}, {KeysMax: 1, ValueSizeMax: 1 << 16}, {KeysMax: 1, ValueSizeMax: -1}, {KeysMax: 1, ReplySizeLimit: 100}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
}

func TestResultString(t *testing.T) {
	for r, want := range []string{"ok", "not_found", "cas_mismatch", "full", "invalid", "result(5)"} {
		if got := Result(r).String(); got != want {
			t.Errorf("%d: %q", r, got)
		}
	}
	if OperationName(OperationCompareAndSet) != "compare_and_set" {
		t.Error("OperationName")
	}
}
