package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/chronon-db/chronon/wire"
)

// Version is the Chronon release; overridden at link time with
// -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func init() {
	register(command{name: "version", summary: "print the version and what this build contains", run: runVersion})
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	printVersion(stdout)
	return 0
}

func printVersion(w io.Writer) {
	revision := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				revision = s.Value[:12]
			}
		}
	}
	fmt.Fprintf(w, "chronon %s (revision %s, %s, %s/%s)\n", Version, revision, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "wire protocol v%d: %d-byte header, xxh3-128 checksums, message size max %d KiB (production) / %d KiB (test)\n",
		wire.ProtocolVersion, wire.HeaderSize, wire.MessageSizeMaxProduction>>10, wire.MessageSizeMaxTest>>10)
}
