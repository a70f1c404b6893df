package sim

import (
	"fmt"

	"github.com/anishathalye/porcupine"
	"github.com/chronon-db/chronon/kv"
)

// kvState is one key's value in the model.
type kvState struct {
	present bool
	value   string
}

// kvModel is the sequential specification of one kv key; histories are
// partitioned by key. An operation whose outcome is unknown may have taken
// effect (at any point after its call) or not at all.
var kvModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		byKey := make([][]porcupine.Operation, len(kvKeys))
		for _, op := range ops {
			in := op.Input.(kvInput)
			for i, k := range kvKeys {
				if k == in.key {
					byKey[i] = append(byKey[i], op)
				}
			}
		}
		return byKey
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in := state.(kvState), input.(kvInput)
		_, unknown := output.(unknownOutput)
		var out kvOutput
		if !unknown {
			out = output.(kvOutput)
		}
		switch in.op {
		case kv.OperationPut:
			return unknown || out.result == kv.ResultOK, kvState{true, in.value}
		case kv.OperationGet:
			if unknown {
				return true, st
			}
			if st.present {
				return out.result == kv.ResultOK && out.value == st.value, st
			}
			return out.result == kv.ResultNotFound, st
		case kv.OperationDelete:
			want := kv.ResultNotFound
			if st.present {
				want = kv.ResultOK
			}
			return unknown || out.result == want, kvState{}
		case kv.OperationCompareAndSet:
			var want kv.Result
			switch {
			case in.expectAbsent && st.present:
				want = kv.ResultCASMismatch
			case in.expectAbsent:
				want = kv.ResultOK
			case !st.present:
				want = kv.ResultNotFound
			case st.value != in.expected:
				want = kv.ResultCASMismatch
			default:
				want = kv.ResultOK
			}
			next := st
			if want == kv.ResultOK {
				next = kvState{true, in.value}
			}
			return unknown || out.result == want, next
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%s(%+v) -> %+v", kv.OperationName(input.(kvInput).op), input, output)
	},
}

// checkLinearizable checks the kv history with porcupine.
func checkLinearizable(ops []porcupine.Operation) error {
	if len(ops) == 0 {
		return nil
	}
	if !porcupine.CheckOperations(kvModel, ops) {
		return violation(InvariantLinearizable, "the kv history of %d operations is not linearizable", len(ops))
	}
	return nil
}
