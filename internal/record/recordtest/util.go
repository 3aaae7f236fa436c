package recordtest

import (
	"fmt"
	"strconv"
	"strings"
)

// ProbeError is ffprobe refusing an input.
type ProbeError struct {
	Out string
	Err error
}

func (e *ProbeError) Error() string { return fmt.Sprintf("ffprobe: %v: %s", e.Err, e.Out) }

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func cut(s, prefix string) (string, bool) {
	if strings.HasPrefix(s, prefix) {
		return strings.TrimSpace(s[len(prefix):]), true
	}
	return "", false
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func atof(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
