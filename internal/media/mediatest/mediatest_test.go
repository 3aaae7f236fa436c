package mediatest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNotInProduct keeps this package out of the binary: it imports testing
// and fakes the authorizer, so product code importing it would be a hole.
func TestNotInProduct(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vigil-vms/vigil/cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/vigil-vms/vigil/internal/media/mediatest" {
			t.Fatal("product code imports mediatest (go list -deps ./cmd/...)")
		}
	}
}

func TestParseMediaPlaylist(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PART:DURATION=0.2,URI=\"a_part0.mp4\"\nseg7.mp4\n" +
		"#EXT-X-PART:DURATION=0.2,URI=\"b_part0.mp4?token=x\"\n#EXT-X-PART:DURATION=0.2,URI=\"b_part1.mp4?token=x\"\n"
	msn, segs, after, last := parseMediaPlaylist(pl)
	if msn != 7 || segs != 1 || after != 2 || last != "b_part1.mp4?token=x" {
		t.Fatalf("got msn %d segs %d parts after %d last %q", msn, segs, after, last)
	}
}
