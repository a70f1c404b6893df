package sim

import (
	"math"

	"github.com/anishathalye/porcupine"
)

// history is the clients' operation history for the linearizability
// checker. Times are ticks scaled so that a reply delivered in a tick
// precedes a request sent later in the same tick (the simulator delivers
// messages before clients send).
type history struct {
	ops []porcupine.Operation
	now *uint64
}

// unknownOutput marks a request whose outcome no client learned.
type unknownOutput struct{}

func (h *history) call(c *client, input any) int {
	h.ops = append(h.ops, porcupine.Operation{ClientId: c.index, Input: input, Call: int64(*h.now)*4 + 2, Return: -1})
	return len(h.ops) - 1
}

func (h *history) input(i int) any {
	if i < 0 {
		return nil
	}
	return h.ops[i].Input
}

func (h *history) ret(i int, out any) {
	if i < 0 {
		return
	}
	h.ops[i].Output = out
	h.ops[i].Return = int64(*h.now)*4 + 1
}

// abandon marks op i as possibly executed at any time after its call.
func (h *history) abandon(i int) {
	h.ops[i].Output = unknownOutput{}
	h.ops[i].Return = math.MaxInt64 / 2
}

// finish abandons every operation still in flight.
func (h *history) finish() {
	for i := range h.ops {
		if h.ops[i].Return < 0 {
			h.abandon(i)
		}
	}
}
