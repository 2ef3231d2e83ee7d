//go:build !linux

package kernels

import "time"

// cpuTime is not available here; benchmarks report wall time only.
func cpuTime(process bool) (time.Duration, bool) { return 0, false }
