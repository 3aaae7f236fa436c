package public

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// From and Where are the one definition of "public camera" (R-PUB-1, R-PUB-2,
// R-CAM-4). Every route of this package selects through them, so a camera
// that fails any clause never reaches Go code: it is flagged public, in a
// road, intersection or crowded public area, not classified (state secret),
// its system allows public sharing, and, when its system is a private
// owner's, the owner's consent is on record (R-CAM-2). Only literals are
// used (TRUE/FALSE, `&`), which read the same on SQLite and PostgreSQL.
const From = access.ScopeFrom

// Where is the predicate over From's aliases (c, s, mo).
var Where = fmt.Sprintf("c.public = TRUE AND c.classified = FALSE AND (c.area_bit & %d) <> 0"+
	" AND s.public_sharing = TRUE AND NOT (mo.kind = '%s' AND c.consent_doc = '')",
	registry.PublicAreas, access.PrivateOwnerKind)

// publicColumns are the only columns ever read by this package: nothing of
// the stream endpoints, credentials, organisations or audit is selected, so
// nothing of them can be encoded by mistake.
const publicColumns = "c.id, c.name, c.lat, c.lon, c.area"

// Camera is the public shape of a camera. It is built only from
// publicColumns and the hub's status word.
type Camera struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Area        string  `json:"area"`
	Status      string  `json:"status"`
	SnapshotURL string  `json:"snapshot_url"`
	LiveURL     string  `json:"live_url"`
}

// MaxList bounds the list (a province has a few thousand cameras).
const MaxList = 5000

// idRE is the registry's id rule; anything else is refused before SQL.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidID reports whether s can be a camera id.
func ValidID(s string) bool { return idRE.MatchString(s) && s != "." && s != ".." }

var errNotPublic = errors.New("public: no such public camera")

type querier struct{ db *store.DB }

func (q querier) list(ctx context.Context) ([]Camera, error) {
	rows, err := q.db.Q().Query(ctx, "SELECT "+publicColumns+" FROM "+From+" WHERE "+Where+
		" ORDER BY c.name, c.id LIMIT ?", MaxList)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Camera{}
	for rows.Next() {
		var c Camera
		if err := rows.Scan(&c.ID, &c.Name, &c.Lat, &c.Lon, &c.Area); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (q querier) get(ctx context.Context, id string) (Camera, error) {
	var c Camera
	if !ValidID(id) {
		return c, errNotPublic
	}
	err := q.db.Q().QueryRow(ctx, "SELECT "+publicColumns+" FROM "+From+" WHERE c.id = ? AND "+Where, id).
		Scan(&c.ID, &c.Name, &c.Lat, &c.Lon, &c.Area)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errNotPublic
	}
	return c, err
}

func (q querier) allowed(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	var one int
	err := q.db.Q().QueryRow(ctx, "SELECT 1 FROM "+From+" WHERE c.id = ? AND "+Where, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
