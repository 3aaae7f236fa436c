package registry

import (
	"context"
	"strings"
)

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	maxQueryLen     = 200
	maxQueryWords   = 8
)

// where collects AND-ed conditions with their `?` arguments in text order.
type where struct {
	conds []string
	args  []any
}

func (w *where) and(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1 = 1"
	}
	return strings.Join(w.conds, " AND ")
}

// likeEscaper makes user text literal inside LIKE: '!' is the escape
// character (a backslash would mean different things to the two engines'
// string literals).
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// search adds one LIKE per word of q over a folded column, so the words may
// come in any order and with or without diacritics.
func (w *where) search(col, q string) error {
	if q == "" {
		return nil
	}
	var es ValidationErrors
	checkText(&es, "q", q, false, maxQueryLen)
	if err := es.err(); err != nil {
		return err
	}
	words := strings.Fields(Fold(q))
	if len(words) > maxQueryWords {
		words = words[:maxQueryWords]
	}
	for _, word := range words {
		w.and(col+` LIKE ? ESCAPE '!'`, "%"+likeEscaper.Replace(word)+"%")
	}
	return nil
}

func pageOf(limit, offset int) (int, int) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// CameraFrom is the FROM clause a Scope's WHERE fragment is written against:
// cameras as c, their systems as s.
const CameraFrom = "cameras c JOIN systems s ON s.id = c.system_id"

// Scope limits a camera list to what the subject may see, in SQL. It comes
// from the access room (access.Scope) and is opaque here: Where is AND-ed
// into the query in parentheses (so a top-level OR in it cannot widen the
// filters), Args are its `?` arguments. From, if set, replaces CameraFrom
// and must still bind cameras as c and systems as s (for joins such as the
// managing organisation); its `?` arguments come first in Args.
type Scope struct {
	From  string
	Where string
	Args  []any
}

// Unscoped is the scope of a caller that may see every camera (the
// department, internal jobs). It is a function, not the zero Scope, so that
// skipping the access decision is a visible act in the caller's code.
func Unscoped() Scope { return Scope{Where: "1 = 1"} }

// CameraFilter selects cameras within a scope. Empty fields do not filter.
type CameraFilter struct {
	SystemID   string `json:"system_id,omitempty"`
	Area       string `json:"area,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Purpose    string `json:"purpose,omitempty"`
	AdminUnit  string `json:"admin_unit,omitempty"`
	Public     *bool  `json:"public,omitempty"`
	Classified *bool  `json:"classified,omitempty"`
	// Q matches words of the name, id, address and admin unit, ignoring
	// case and diacritics.
	Q      string `json:"q,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// CameraPage is one page of cameras (ordered by name, id) and the total.
type CameraPage struct {
	Items []Camera `json:"items"`
	Total int      `json:"total"`
}

func (f CameraFilter) where() (where, error) {
	var w where
	var es ValidationErrors
	if f.SystemID != "" {
		w.and("c.system_id = ?", f.SystemID)
	}
	if f.Area != "" {
		if b := AreaBit(f.Area); b != 0 {
			w.and("c.area_bit = ?", b)
		} else {
			maskOf(&es, "area", Areas, []string{f.Area}, false)
		}
	}
	if f.Kind != "" {
		if m := maskOf(&es, "kind", Kinds, []string{f.Kind}, false); m != 0 {
			w.and("(c.kinds & ?) <> 0", m)
		}
	}
	if f.Purpose != "" {
		if m := maskOf(&es, "purpose", Purposes, []string{f.Purpose}, false); m != 0 {
			w.and("(c.purposes & ?) <> 0", m)
		}
	}
	if f.AdminUnit != "" {
		w.and("c.admin_unit = ?", f.AdminUnit)
	}
	if f.Public != nil {
		w.and("c.public = ?", *f.Public)
	}
	if f.Classified != nil {
		w.and("c.classified = ?", *f.Classified)
	}
	if err := es.err(); err != nil {
		return w, err
	}
	return w, w.search("c.search_text", f.Q)
}

// ListCameras lists the cameras of scope that match f, one page at a time.
func (s *Service) ListCameras(ctx context.Context, scope Scope, f CameraFilter) (CameraPage, error) {
	if strings.TrimSpace(scope.Where) == "" {
		return CameraPage{}, ErrNoScope
	}
	from := scope.From
	if from == "" {
		from = CameraFrom
	}
	w, err := f.where()
	if err != nil {
		return CameraPage{}, err
	}
	cond := " FROM " + from + " WHERE (" + scope.Where + ") AND " + w.sql()
	args := append(append([]any{}, scope.Args...), w.args...)
	limit, offset := pageOf(f.Limit, f.Offset)
	page := CameraPage{Items: []Camera{}}
	q := s.db.Q()
	if err := q.QueryRow(ctx, "SELECT COUNT(*)"+cond, args...).Scan(&page.Total); err != nil {
		return page, err
	}
	if page.Total <= offset {
		return page, nil
	}
	rows, err := q.Query(ctx, "SELECT "+cameraCols+cond+" ORDER BY c.name, c.id LIMIT ? OFFSET ?", append(args, limit, offset)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCamera(rows)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, c)
	}
	return page, rows.Err()
}

// CountCameras counts the cameras of scope matching f (for tree badges).
func (s *Service) CountCameras(ctx context.Context, scope Scope, f CameraFilter) (int, error) {
	f.Limit = 1
	f.Offset = 1 << 30 // count only: ListCameras stops after the count
	p, err := s.ListCameras(ctx, scope, f)
	return p.Total, err
}
