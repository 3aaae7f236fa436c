package auth

import "testing"

func TestGeneratePasswordMeetsPolicy(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p := GeneratePassword(14)
		if len(p) != 14 {
			t.Fatalf("length %d", len(p))
		}
		if v := CheckComplexity(p, "admin", 8); len(v) != 0 {
			t.Fatalf("%q breaks %v", p, v)
		}
		if seen[p] {
			t.Fatalf("repeated password %q", p)
		}
		seen[p] = true
	}
}
