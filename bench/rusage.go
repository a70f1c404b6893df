package bench

import (
	"runtime"
	"syscall"
	"time"
)

// usage is the resource usage of this process so far.
type usage struct {
	user, sys time.Duration
	peakRSS   int64 // bytes
}

func getUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	rss := int64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		rss *= 1024 // Linux reports KiB, Darwin bytes
	}
	return usage{
		user:    time.Duration(ru.Utime.Nano()),
		sys:     time.Duration(ru.Stime.Nano()),
		peakRSS: rss,
	}
}
