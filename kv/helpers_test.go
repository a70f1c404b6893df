package kv

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

type harness struct {
	t     testing.TB
	s     *Store
	ctx   statemachine.Context
	reply []byte
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, s: s, ctx: statemachine.Context{Timestamp: 1}}
}

// apply runs one request and returns the reply (valid until the next call).
func (h *harness) apply(op wire.Operation, body []byte) []byte {
	h.t.Helper()
	size := h.s.ReplySizeMax(op, len(body))
	if cap(h.reply) < size {
		h.reply = make([]byte, size)
	}
	h.ctx.Op++
	h.ctx.Timestamp++
	n := h.s.Apply(&h.ctx, op, body, h.reply[:size])
	if n > size {
		h.t.Fatalf("reply %d bytes above ReplySizeMax %d", n, size)
	}
	return h.reply[:n]
}

func must(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func results(reply []byte) []Result {
	rs := make([]Result, len(reply))
	for i, b := range reply {
		rs[i] = Result(b)
	}
	return rs
}

func (h *harness) put(kv ...string) []Result {
	var body []byte
	for i := 0; i < len(kv); i += 2 {
		body = must(h.t)(AppendPut(body, []byte(kv[i]), []byte(kv[i+1])))
	}
	return results(h.apply(OperationPut, body))
}

func (h *harness) del(keys ...string) []Result {
	var body []byte
	for _, k := range keys {
		body = must(h.t)(AppendDelete(body, []byte(k)))
	}
	return results(h.apply(OperationDelete, body))
}

func (h *harness) cas(key, expected, value string, flags CASFlags) Result {
	body := must(h.t)(AppendCompareAndSet(nil, []byte(key), []byte(expected), []byte(value), flags))
	return results(h.apply(OperationCompareAndSet, body))[0]
}

type getResult struct {
	r     Result
	value string
}

func (h *harness) get(keys ...string) []getResult {
	h.t.Helper()
	var body []byte
	for _, k := range keys {
		body = must(h.t)(AppendGet(body, []byte(k)))
	}
	reply := h.apply(OperationGet, body)
	var out []getResult
	for len(reply) > 0 {
		r, v, n, err := DecodeGet(reply)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, getResult{r, string(v)})
		reply = reply[n:]
	}
	if len(out) != len(keys) {
		h.t.Fatalf("%d get results for %d keys", len(out), len(keys))
	}
	return out
}
