//go:build !unix

package auth

import "time"

// cpuTime is not measured off unix; the benchmark then reports 0 CPU.
func cpuTime() time.Duration { return 0 }
