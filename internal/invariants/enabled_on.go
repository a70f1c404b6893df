//go:build invariants

package invariants

const enabled = true
