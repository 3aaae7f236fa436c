package registry

import "time"

// SetClock lets tests move time forward without sleeping.
func SetClock(s *Service, now func() time.Time) { s.now = now }
