package registry

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-vms/vigil/internal/store"
)

// Import limits (ImportOptions zero values mean these).
const (
	DefaultImportMaxRows  = 10000
	DefaultImportMaxBytes = 8 << 20
	// maxImportErrors bounds the error report of a hopeless file (say, the
	// wrong spreadsheet) so the answer stays readable.
	maxImportErrors = 1000
)

// ImportOptions bounds a CSV import.
type ImportOptions struct {
	MaxRows  int
	MaxBytes int64
}

// ImportRow is one parsed data row and its line in the file.
type ImportRow struct {
	Line   int
	Camera CameraInput
}

// ImportResult tells what an import created.
type ImportResult struct {
	Created int      `json:"created"`
	IDs     []string `json:"ids"`
}

// CSVColumns are the columns a camera CSV may have; CSVRequired must be present.
var (
	CSVColumns = []string{"id", "system_id", "name", "kinds", "purposes", "area", "lat", "lon", "admin_unit", "address",
		"classified", "public", "main_url", "sub_url", "username", "password", "transport", "on_demand", "push",
		"consent_doc", "consent_date", "consent_scope", "installed_at"}
	CSVRequired = []string{"system_id", "name", "kinds", "purposes", "area", "lat", "lon"}
)

// csvField maps a validation field to the CSV column that carries it.
func csvField(f string) string {
	return strings.ReplaceAll(f, ".", "_")
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseCameraCSV reads a camera spreadsheet export: a header row naming the
// columns (any order, CSVColumns), UTF-8 with or without a BOM, comma or
// semicolon delimited (whichever the header uses more; Vietnamese-locale
// Excel writes semicolons). Multi-valued cells separate values by ';', '|'
// or ','. It checks the form of each cell; every problem is reported with
// its line and column, not just the first. The rules of the values
// themselves are applied by ImportCameras.
func ParseCameraCSV(r io.Reader, opt ImportOptions) ([]ImportRow, error) {
	maxBytes, maxRows := opt.MaxBytes, opt.MaxRows
	if maxBytes <= 0 {
		maxBytes = DefaultImportMaxBytes
	}
	if maxRows <= 0 {
		maxRows = DefaultImportMaxRows
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, ValidationErrors{{Field: "file", Code: "too_large", Message: fmt.Sprintf("the file is larger than %d bytes; split it", maxBytes)}}
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte{'\n'})
		return nil, ValidationErrors{{Line: line, Field: "file", Code: "invalid_utf8",
			Message: "the file is not UTF-8 text; save the spreadsheet as \"CSV UTF-8\""}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ValidationErrors{{Line: 1, Field: "file", Code: "empty", Message: "the file is empty; the first row must name the columns"}}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = detectDelimiter(data)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false

	var es ValidationErrors
	header, err := cr.Read()
	if err != nil {
		return nil, ValidationErrors{{Line: 1, Field: "file", Code: "csv_syntax", Message: csvMessage(err)}}
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		h = strings.NewReplacer(" ", "_", "-", "_").Replace(h)
		switch {
		case h == "":
			es = append(es, &ValidationError{Line: 1, Field: fmt.Sprintf("column %d", i+1), Code: "unknown_column", Message: "the column has no name"})
		case indexOf(CSVColumns, h) < 0:
			// Refused rather than ignored: a misspelt "purpose" column
			// would otherwise silently import cameras without purposes.
			es = append(es, &ValidationError{Line: 1, Field: clip(h, 40), Code: "unknown_column",
				Message: "unknown column (allowed: " + strings.Join(CSVColumns, ", ") + ")"})
		case col[h] != 0:
			es = append(es, &ValidationError{Line: 1, Field: h, Code: "duplicate_column", Message: "the column appears twice"})
		default:
			col[h] = i + 1 // 1-based so that 0 means absent
		}
	}
	for _, req := range CSVRequired {
		if col[req] == 0 {
			es = append(es, &ValidationError{Line: 1, Field: req, Code: "missing_column", Message: "the column is required"})
		}
	}
	if len(es) > 0 {
		return nil, es
	}

	var rows []ImportRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// After a quoting error the reader's idea of where rows start
			// is unreliable: report it and stop.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			es = append(es, &ValidationError{Line: line, Field: "file", Code: "csv_syntax", Message: csvMessage(err)})
			break
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue // spreadsheets export trailing empty rows as ";;;;"
		}
		if len(rows) >= maxRows {
			es = append(es, &ValidationError{Line: line, Field: "file", Code: "too_many_rows",
				Message: fmt.Sprintf("more than %d rows; split the file", maxRows)})
			break
		}
		if len(rec) > len(header) && !blank(rec[len(header):]) {
			es = append(es, &ValidationError{Line: line, Field: "file", Code: "field_count",
				Message: fmt.Sprintf("the row has %d cells, the header %d", len(rec), len(header))})
			continue
		}
		in, rowErrs := parseRow(rec, col)
		for _, e := range rowErrs {
			e.Line = line
		}
		es = append(es, rowErrs...)
		rows = append(rows, ImportRow{Line: line, Camera: in})
		if len(es) > maxImportErrors {
			break
		}
	}
	if len(rows) == 0 && len(es) == 0 {
		es = append(es, &ValidationError{Line: 2, Field: "file", Code: "empty", Message: "the file has a header but no rows"})
	}
	if len(es) > 0 {
		return rows, capErrors(es)
	}
	return rows, nil
}

func csvMessage(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "malformed CSV: " + pe.Err.Error()
	}
	return "malformed CSV"
}

func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// detectDelimiter picks ';' when the header line has more semicolons than
// commas outside quotes, else ','.
func detectDelimiter(data []byte) rune {
	commas, semis := 0, 0
	inQuote := false
	for _, c := range data {
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '\n':
			if semis > commas {
				return ';'
			}
			return ','
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

// parseRow turns the cells of one row into a CameraInput, reporting cells
// whose form is wrong (numbers, booleans, dates).
func parseRow(rec []string, col map[string]int) (CameraInput, ValidationErrors) {
	var es ValidationErrors
	get := func(name string) string {
		i := col[name]
		if i == 0 || i > len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i-1])
	}
	boolean := func(name string) bool {
		v := get(name)
		b, ok := parseBool(v)
		if !ok {
			es.add(name, "invalid_bool", "%q is not yes/no (use 1/0, true/false, yes/no, có/không or x)", clip(v, 20))
		}
		return b
	}
	coord := func(name string) float64 {
		v := get(name)
		f, ok := ParseCoordinate(v)
		if !ok {
			if v == "" {
				es.add(name, "required", "is required")
			} else {
				es.add(name, "invalid_number", "%q is not a decimal number of degrees", clip(v, 20))
			}
		}
		return f
	}
	in := CameraInput{
		ID: get("id"), SystemID: get("system_id"), Name: get("name"),
		Kinds: splitMulti(get("kinds")), Purposes: splitMulti(get("purposes")), Area: get("area"),
		AdminUnit: get("admin_unit"), Address: get("address"),
		MainURL: get("main_url"), SubURL: get("sub_url"), Username: get("username"),
		// A password is taken as typed: leading/trailing spaces may be part of it.
		Transport: get("transport"),
		Consent:   Consent{Doc: get("consent_doc"), Date: get("consent_date"), Scope: get("consent_scope")},
	}
	if i := col["password"]; i != 0 && i <= len(rec) {
		in.Password = rec[i-1]
	}
	in.Lat, in.Lon = coord("lat"), coord("lon")
	in.Classified, in.Public = boolean("classified"), boolean("public")
	in.OnDemand, in.Push = boolean("on_demand"), boolean("push")
	if v := get("installed_at"); v != "" {
		t, ok := parseDate(v)
		if !ok {
			var err error
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				es.add("installed_at", "invalid_date", "%q is not a date as YYYY-MM-DD", clip(v, 30))
			}
		}
		in.InstalledAt = t
	}
	return in, es
}

func splitMulti(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '|' || r == ',' })
}

// parseBool reads a yes/no cell; empty is no.
func parseBool(v string) (bool, bool) {
	switch Fold(v) {
	case "", "0", "false", "no", "n", "khong", "f":
		return false, true
	case "1", "true", "yes", "y", "co", "x", "t":
		return true, true
	}
	return false, false
}

func capErrors(es ValidationErrors) ValidationErrors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	if len(es) > maxImportErrors {
		es = append(es[:maxImportErrors:maxImportErrors], &ValidationError{Field: "file", Code: "too_many_errors",
			Message: fmt.Sprintf("more than %d problems; only the first are listed", maxImportErrors)})
	}
	return es
}

// ImportCameras creates every camera of a CSV file (ParseCameraCSV) in one
// transaction: all of them or, if any row breaks any rule, none; the error
// is then a ValidationErrors listing every bad row's line, column and rule.
// Each camera gets its camera.create audit entry, and the import one
// camera.import entry with the count.
func (s *Service) ImportCameras(ctx context.Context, a Actor, r io.Reader, opt ImportOptions) (ImportResult, error) {
	rows, err := ParseCameraCSV(r, opt)
	var es ValidationErrors
	if err != nil {
		if !errors.As(err, &es) {
			return ImportResult{}, err
		}
		if len(rows) == 0 {
			return ImportResult{}, err
		}
	}
	// Cells that did not parse are already reported; the value rules would
	// only repeat them (a lat that is not a number is also "out of range").
	bad := map[[2]any]bool{}
	for _, e := range es {
		bad[[2]any{e.Line, e.Field}] = true
	}
	recs := make([]camRow, len(rows))
	seen := map[string]int{}
	for i, row := range rows {
		rec, rowErrs := validateCamera(row.Camera)
		recs[i] = rec
		for _, e := range rowErrs {
			e.Line, e.Field = row.Line, csvField(e.Field)
			if bad[[2]any{e.Line, e.Field}] || (e.Code == "missing_location" && (bad[[2]any{e.Line, "lat"}] || bad[[2]any{e.Line, "lon"}])) {
				continue
			}
			es = append(es, e)
		}
		if id := rec.in.ID; id != "" {
			if first, dup := seen[id]; dup {
				es = append(es, &ValidationError{Line: row.Line, Field: "id", Code: "duplicate", Message: fmt.Sprintf("the same id as line %d", first)})
			} else {
				seen[id] = row.Line
			}
		}
	}
	var res ImportResult
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		systems := map[string]systemFacts{}
		for i := range recs {
			sid := recs[i].in.SystemID
			if !ValidID(sid) {
				continue // already reported
			}
			sf, ok := systems[sid]
			if !ok {
				var lerr error
				if sf, lerr = lookupSystem(ctx, tx, sid); lerr != nil {
					return lerr
				}
				systems[sid] = sf
			}
			var rowErrs ValidationErrors
			checkCameraRefs(&rowErrs, &recs[i], sf, s.siteID)
			for _, e := range rowErrs {
				e.Line = rows[i].Line
				es = append(es, e)
			}
		}
		existing, err := existingCameraIDs(ctx, tx, recs)
		if err != nil {
			return err
		}
		for i := range recs {
			if existing[recs[i].in.ID] {
				es = append(es, &ValidationError{Line: rows[i].Line, Field: "id", Code: "duplicate", Message: "a camera with this id already exists"})
			}
		}
		if len(es) > 0 {
			return capErrors(es)
		}
		now := s.nowMS()
		res.IDs = make([]string, 0, len(recs))
		for i := range recs {
			if recs[i].in.ID == "" {
				recs[i].in.ID = newID("cam")
			}
			if err := s.insertCamera(ctx, tx, a, &recs[i], now, map[string]any{"import_line": rows[i].Line}); err != nil {
				var ce *ConflictError
				if errors.As(err, &ce) {
					return ValidationErrors{{Line: rows[i].Line, Field: ce.Field, Code: ce.Code, Message: ce.Message}}
				}
				return fmt.Errorf("line %d: %w", rows[i].Line, err)
			}
			res.IDs = append(res.IDs, recs[i].in.ID)
		}
		res.Created = len(res.IDs)
		return s.record(ctx, tx, a, "camera.import", "cameras", map[string]any{"count": res.Created})
	})
	if err != nil {
		return ImportResult{}, err
	}
	if res.Created >= 1000 {
		// A bulk load changes the table's statistics at once; without fresh
		// ones the planners pick index scans that made scoped lists several
		// times slower until autovacuum (PostgreSQL) or never (SQLite)
		// catches up. Best effort: the import itself has succeeded.
		_, _ = s.db.Q().Exec(ctx, `ANALYZE cameras`)
	}
	return res, nil
}

// existingCameraIDs finds which of the rows' ids are taken, in chunks so the
// parameter count stays within both engines' limits.
func existingCameraIDs(ctx context.Context, q store.Q, recs []camRow) (map[string]bool, error) {
	var ids []any
	for i := range recs {
		if id := recs[i].in.ID; id != "" && ValidID(id) {
			ids = append(ids, id)
		}
	}
	found := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := q.Query(ctx, `SELECT id FROM cameras WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
}
