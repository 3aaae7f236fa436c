package sim

import (
	"bytes"
	"testing"
)

func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3})
	f.Add([]byte{0, 0, 1})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range splitAnnexB(b) {
			if len(n) == 0 {
				t.Fatal("empty NAL unit")
			}
			if !bytes.Contains(b, n) {
				t.Fatal("NAL unit not from input")
			}
		}
	})
}
