// Package bench will hold Chronon's benchmark harness: it starts a cluster,
// drives ledger and KV workloads with many clients and reports throughput
// and latency percentiles, side by side with peer systems.
package bench
