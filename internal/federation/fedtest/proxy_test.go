package fedtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNotInProduct: the binary never imports the test support.
func TestNotInProduct(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vigil-vms/vigil/cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/vigil-vms/vigil/internal/federation/fedtest" {
			t.Fatal("product code imports fedtest (go list -deps ./cmd/...)")
		}
	}
}
