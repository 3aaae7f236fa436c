package playback

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
)

// MaxHLSRange bounds one VOD playlist.
const MaxHLSRange = 7 * 24 * time.Hour

// HLSPlaylist is an HLS VOD playlist (fMP4) of a range: one media segment
// per recorded segment, addressed by byte range inside the segment file
// (EXT-X-MAP for its init), so serving it needs no remuxing. Every recorded
// segment begins its own timeline (EXT-X-DISCONTINUITY), and gaps are
// simply absent. segURL makes a segment file's URL.
func HLSPlaylist(ctx context.Context, q store.Q, res Resolver, cameraID string, from, to time.Time, segURL func(id string) string) (string, int, error) {
	segs, err := record.Segments(ctx, q, cameraID, media.Main, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return "", 0, err
	}
	var b strings.Builder
	var body strings.Builder
	target := 1.0
	n := 0
	for _, g := range segs {
		if g.State != record.StateOK {
			continue // still being written: not part of a VOD list
		}
		p, err := res.SegmentPath(g.Storage, g.Path)
		if err != nil {
			return "", 0, err
		}
		initLen, err := initSize(p)
		if err != nil || g.Bytes <= initLen {
			continue
		}
		dur := float64(g.EndMS-g.StartMS) / 1000
		target = math.Max(target, math.Ceil(dur))
		u := segURL(g.ID)
		fmt.Fprintf(&body, "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:%s\n", time.UnixMilli(g.StartMS).UTC().Format("2006-01-02T15:04:05.000Z"))
		fmt.Fprintf(&body, "#EXT-X-MAP:URI=\"%s\",BYTERANGE=\"%d@0\"\n", u, initLen)
		fmt.Fprintf(&body, "#EXTINF:%.3f,\n#EXT-X-BYTERANGE:%d@%d\n%s\n", dur, g.Bytes-initLen, initLen, u)
		n++
	}
	if n == 0 {
		return "", 0, ErrNoFootage
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", int(target))
	b.WriteString(body.String())
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String(), n, nil
}

func initSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var off int64
	var h [8]byte
	for _, want := range []string{"ftyp", "moov"} {
		if _, err := f.ReadAt(h[:], off); err != nil {
			return 0, err
		}
		size := int64(uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3]))
		if string(h[4:]) != want || size < 8 {
			return 0, record.ErrNotSegment
		}
		off += size
	}
	return off, nil
}
