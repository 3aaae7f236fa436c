package record

import (
	"context"

	"github.com/vigil-vms/vigil/internal/store"
)

// NewIDForTest and InsertSegmentForTest let tests seed the index.
func NewIDForTest() string { return newID() }

func InsertSegmentForTest(ctx context.Context, q store.Q, g SegmentRow) error {
	return insertSegment(ctx, q, g)
}

// SegFile is the file under a segment being written, for a test's failing
// writer.
type SegFile = segFile

// SetOpenFile makes the recorder open its segment files with open.
func SetOpenFile(o *Options, open func(path string) (SegFile, error)) { o.openFile = open }
