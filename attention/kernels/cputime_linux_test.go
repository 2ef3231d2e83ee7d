package kernels

import (
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the CPU time of the calling OS thread, or of the whole process
// (for code that runs on other goroutines, as gonum's GEMM does). Benchmarks
// report speed per CPU second as well as per wall second: on a shared machine
// it is far less disturbed by other work.
func cpuTime(process bool) (time.Duration, bool) {
	clock := int32(unix.CLOCK_THREAD_CPUTIME_ID)
	if process {
		clock = unix.CLOCK_PROCESS_CPUTIME_ID
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
