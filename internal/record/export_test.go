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
