package chaos

import (
	"fmt"
	"strings"
)

// Status is one "node: status" line of a replica's log.
type Status struct {
	View           uint32
	Status         string // normal, view_change, recovering
	Primary        bool
	Op             uint64
	CommitMin      uint64
	CommitMax      uint64
	Peers          int
	Rejoining      bool
	CommitChecksum string
	Digest         string
}

// LastStatusLine returns the last "node: status" line of a log.
func LastStatusLine(log string) string {
	for {
		i := strings.LastIndex(log, `msg="node: status"`)
		if i < 0 {
			return ""
		}
		start := strings.LastIndexByte(log[:i], '\n') + 1
		end := strings.IndexByte(log[i:], '\n')
		if end < 0 {
			// A line still being written: look at the one before.
			log = log[:start]
			continue
		}
		return log[start : i+end]
	}
}

// LastStatus parses the last status line of a log.
func LastStatus(log string) (Status, bool) {
	line := LastStatusLine(log)
	if line == "" {
		return Status{}, false
	}
	return ParseStatus(line), true
}

// ParseStatus parses the fields of a status line; missing fields stay zero.
func ParseStatus(line string) Status {
	var s Status
	for _, field := range strings.Fields(line) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch k {
		case "view":
			_, _ = fmt.Sscan(v, &s.View)
		case "status":
			s.Status = v
		case "primary":
			s.Primary = v == "true"
		case "op":
			_, _ = fmt.Sscan(v, &s.Op)
		case "commit_min":
			_, _ = fmt.Sscan(v, &s.CommitMin)
		case "commit_max":
			_, _ = fmt.Sscan(v, &s.CommitMax)
		case "peers":
			_, _ = fmt.Sscan(v, &s.Peers)
		case "rejoining":
			s.Rejoining = v == "true"
		case "commit_checksum":
			s.CommitChecksum = v
		case "digest":
			s.Digest = v
		}
	}
	return s
}
