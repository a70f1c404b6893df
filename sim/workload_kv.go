package sim

import (
	"fmt"

	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/wire"
)

// kvKeys is the small key space of the kv workload: few keys make
// concurrent operations on the same key common.
var kvKeys = []string{"a", "b", "c", "d"}

// kvInput is one kv request in the history.
type kvInput struct {
	op           wire.Operation
	key          string
	value        string // put, compare_and_set: the new value
	expected     string // compare_and_set
	expectAbsent bool   // compare_and_set
}

// kvOutput is the outcome of a kv request.
type kvOutput struct {
	result kv.Result
	value  string // get
}

// kvClient issues random kv operations; values are unique per request so
// the checker can tell writes apart.
type kvClient struct {
	seen map[string]string // last value this client read or wrote, by key
	n    int
}

func (w *kvClient) next(c *client) (wire.Operation, []byte, any) {
	s := c.sim
	w.n++
	in := kvInput{key: kvKeys[s.rng.IntN(len(kvKeys))]}
	var body []byte
	var err error
	switch p := s.rng.IntN(100); {
	case p < 35:
		in.op, in.value = kv.OperationPut, fmt.Sprintf("%x.%d", c.id.Lo, w.n)
		body, err = kv.AppendPut(nil, []byte(in.key), []byte(in.value))
	case p < 65:
		in.op = kv.OperationGet
		body, err = kv.AppendGet(nil, []byte(in.key))
	case p < 80:
		in.op = kv.OperationDelete
		body, err = kv.AppendDelete(nil, []byte(in.key))
	default:
		in.op, in.value = kv.OperationCompareAndSet, fmt.Sprintf("%x.%d", c.id.Lo, w.n)
		var flags kv.CASFlags
		if v, ok := w.seen[in.key]; ok && s.rng.IntN(4) != 0 {
			in.expected = v
		} else {
			in.expectAbsent, flags = true, kv.CASExpectAbsent
		}
		body, err = kv.AppendCompareAndSet(nil, []byte(in.key), []byte(in.expected), []byte(in.value), flags)
	}
	if err != nil {
		panic(fmt.Sprintf("sim: kv workload built an invalid request: %v", err))
	}
	return in.op, body, in
}

func (w *kvClient) reply(c *client, input any, body []byte) (any, error) {
	in := input.(kvInput)
	if in.op == kv.OperationGet {
		res, v, n, err := kv.DecodeGet(body)
		if err != nil || n != len(body) {
			return nil, violation(InvariantWorkload, "get reply of %d bytes does not decode: %v", len(body), err)
		}
		if res == kv.ResultOK {
			w.seen[in.key] = string(v)
		}
		return kvOutput{result: res, value: string(v)}, nil
	}
	if len(body) != 1 {
		return nil, violation(InvariantWorkload, "%s reply has %d bytes, want 1", kv.OperationName(in.op), len(body))
	}
	res := kv.Result(body[0])
	if res == kv.ResultOK && in.op != kv.OperationDelete {
		w.seen[in.key] = in.value
	}
	return kvOutput{result: res}, nil
}

func (w *kvClient) abandon(*client, any) {}
