package hls

import (
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/media"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/hls/cam1/main/index.m3u8", "/public/hls/c/sub/abc_video1_part3.mp4", "/hls/c/main/../x.mp4", "/hls/c/other/index.m3u8", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cam, v, file, ok := ParsePath(p)
		if !ok {
			return
		}
		if cam == "" || strings.Contains(cam, "/") || (v != media.Main && v != media.Sub) {
			t.Fatalf("accepted %q → %q %q", p, cam, v)
		}
		if strings.Contains(file, "..") && !strings.HasSuffix(file, ".mp4") && !strings.HasSuffix(file, ".m3u8") {
			t.Fatalf("file %q", file)
		}
		if strings.ContainsAny(file, "/\\\x00") {
			t.Fatalf("file %q", file)
		}
	})
}
