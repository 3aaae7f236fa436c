package webrtc

import (
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/media"
)

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/whep/cam1/main", "/whep/cam1/sub/0123456789abcdef0123456789abcdef", "/api/whep/x/main/", "/whep//main", "/whep/a/b/c/d", "whep"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cam, v, sess, ok := ParsePath(p)
		if !ok {
			return
		}
		if cam == "" || strings.Contains(cam, "/") || (v != media.Main && v != media.Sub) {
			t.Fatalf("accepted %q → %q %q", p, cam, v)
		}
		if sess != "" && len(sess) != 32 {
			t.Fatalf("session id %q", sess)
		}
	})
}

func FuzzParseSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 192.168.1.5 50000 typ host\r\na=end-of-candidates\r\n")
	f.Add("a=candidate:1 1 udp 1 x\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		fr, err := ParseSDPFrag(body)
		if err != nil {
			return
		}
		if len(fr.Candidates) > 64 {
			t.Fatal("candidate bound not enforced")
		}
		for _, c := range fr.Candidates {
			if !strings.HasPrefix(c.Candidate, "candidate:") || strings.ContainsAny(c.Candidate, "\r\n") {
				t.Fatalf("bad candidate %q", c.Candidate)
			}
		}
	})
}

func FuzzPrepareAU(f *testing.F) {
	f.Add([]byte{0x09, 0xf0, 0, 0x65, 1, 2}, true)
	f.Add([]byte{0x67, 1, 0, 0x68, 2, 0, 0x41, 3}, false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, data []byte, random bool) {
		// Split the input into NAL units on zero bytes, as a cheap way to
		// get arbitrary NAL lists.
		var au [][]byte
		for _, n := range strings.Split(string(data), "\x00") {
			au = append(au, []byte(n))
		}
		out := prepareAU(au, random, []byte{0x67, 0x42}, []byte{0x68, 0xce})
		for _, n := range out {
			if len(n) == 0 {
				t.Fatal("empty NAL unit kept")
			}
			if typ := n[0] & 0x1f; typ == 9 || typ == 12 {
				t.Fatal("AUD/filler kept")
			}
		}
		if len(out) > 0 {
			_, _ = (&encoderForFuzz{}).encode(out)
		}
	})
}

func FuzzParseOffer(f *testing.F) {
	f.Add("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:u\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseOffer(s)
	})
}

// encoderForFuzz runs the RTP packetizer on prepared AUs: prepareAU's job is
// to hand it only what it accepts (no empty NAL units).
type encoderForFuzz struct{}

func (encoderForFuzz) encode(au [][]byte) (int, error) {
	ss := &session{}
	ss.enc = newEncoderForTest()
	pk, err := ss.enc.Encode(au)
	return len(pk), err
}
