package kv_test

import (
	"fmt"

	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// A client builds request bodies with the Append helpers and parses replies
// (one result byte per operation; DecodeGet for gets); here the store is
// driven directly, the way the replica does.
func Example() {
	s, err := kv.New(kv.Config{KeysMax: 1024, ValueSizeMax: 64})
	if err != nil {
		panic(err)
	}
	apply := func(op wire.Operation, body []byte) []byte {
		if err := s.Validate(op, body); err != nil {
			panic(err)
		}
		reply := make([]byte, s.ReplySizeMax(op, len(body)))
		return reply[:s.Apply(&statemachine.Context{}, op, body, reply)]
	}

	body, _ := kv.AppendPut(nil, []byte("color"), []byte("blue"))
	body, _ = kv.AppendPut(body, []byte("size"), []byte("L"))
	fmt.Println("put:", kv.Result(apply(kv.OperationPut, body)[0]), kv.Result(apply(kv.OperationPut, body)[1]))

	body, _ = kv.AppendCompareAndSet(nil, []byte("color"), []byte("red"), []byte("green"), 0)
	body, _ = kv.AppendCompareAndSet(body, []byte("color"), []byte("blue"), []byte("green"), 0)
	reply := apply(kv.OperationCompareAndSet, body)
	fmt.Println("compare_and_set:", kv.Result(reply[0]), kv.Result(reply[1]))

	body, _ = kv.AppendGet(nil, []byte("color"))
	body, _ = kv.AppendGet(body, []byte("weight"))
	reply = apply(kv.OperationGet, body)
	for len(reply) > 0 {
		r, value, n, err := kv.DecodeGet(reply)
		if err != nil {
			panic(err)
		}
		fmt.Printf("get: %s %q\n", r, value)
		reply = reply[n:]
	}
	// Output:
	// put: ok ok
	// compare_and_set: cas_mismatch ok
	// get: ok "green"
	// get: not_found ""
}
