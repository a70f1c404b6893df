package bench

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Environment records where and when a run took place, so a figure can be
// told apart from one taken elsewhere: on a shared machine the load average
// matters as much as the core count.
type Environment struct {
	// Started is the run's start, UTC, RFC 3339.
	Started    string `json:"started"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute figures at the
	// start (absent where there is no /proc).
	LoadAverage []float64 `json:"load_average,omitempty"`
}

// environment returns this process's environment now.
func environment() Environment {
	return Environment{
		Started:     time.Now().UTC().Format(time.RFC3339),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		NumCPU:      runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		LoadAverage: loadAverage(),
	}
}

// loadAverage parses LoadAverage's figures; nil when there are none.
func loadAverage() []float64 {
	f := strings.Fields(LoadAverage())
	if len(f) != 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		var err error
		if out[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return nil
		}
	}
	return out
}

// LoadAverage returns /proc/loadavg's 1, 5 and 15 minute load averages as
// text ("0.52 0.58 0.59"), or "" where there is no /proc/loadavg.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
