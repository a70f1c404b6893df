module github.com/chronon-db/chronon/sinks/nats

go 1.26.0

require (
	github.com/chronon-db/chronon v0.0.0
	github.com/nats-io/nats.go v1.56.0
)

require (
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/chronon-db/chronon => ../..
