package events

import "strings"

// CanonicalPlate is how a plate is stored and compared: upper case, letters
// and digits only ("51A-123.45" → "51A12345", "29 b1 234.56" → "29B123456").
// Vietnamese plates use A–Z and 0–9 with '-', '.', ' ' as separators; other
// characters are dropped.
func CanonicalPlate(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		}
	}
	return b.String()
}

// confusable maps the characters OCR engines mix up to one representative:
// 0/O/D/Q, 8/B, 1/I/L, 5/S, 2/Z, 6/G.
var confusable = [256]byte{}

func init() {
	for c := 0; c < 256; c++ {
		confusable[c] = byte(c)
	}
	for _, p := range []string{"0OQD", "8B", "1IL", "5S", "2Z", "6G"} {
		for i := 1; i < len(p); i++ {
			confusable[p[i]] = p[0]
		}
	}
}

// FuzzyPlate is the OCR-tolerant key of a plate: its canonical form with
// every confusable character replaced by its representative. Two reads of
// the same plate that differ only by such confusions have the same key.
func FuzzyPlate(s string) string {
	c := []byte(CanonicalPlate(s))
	for i, ch := range c {
		c[i] = confusable[ch]
	}
	return string(c)
}

// prefixUpper is the smallest string above every string with this prefix,
// for an index range `col >= p AND col < prefixUpper(p)` that works on both
// engines whatever the collation (the alphabet is 0–9 then A–Z, which every
// collation orders the same way for such strings). "" means no upper bound.
func prefixUpper(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		switch {
		case b[i] >= '0' && b[i] < '9', b[i] >= 'A' && b[i] < 'Z':
			b[i]++
			return string(b[:i+1])
		case b[i] == '9':
			b[i] = 'A'
			return string(b[:i+1])
		}
		// 'Z': carry into the previous character
	}
	return ""
}
