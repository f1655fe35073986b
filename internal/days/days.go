package days

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours (retention counts days, not calendar days).
const Day = 24 * time.Hour

// Parse reads a duration that is not negative: "90d" (whole days) or
// anything time.ParseDuration takes ("12h", "2s", "0").
func Parse(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q: whole days are a number then d (90d), at most 65535d", s)
		}
		return time.Duration(v) * Day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: 90d, 12h, 30m, 2s", s)
	}
	return d, nil
}

// Format writes d as Parse reads it: whole days as "90d", else Go's
// form.
func Format(d time.Duration) string {
	if d > 0 && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	return d.String()
}

// Value is a flag.Value holding a duration Parse reads.
type Value struct{ D *time.Duration }

// String is the duration as Format writes it.
func (v Value) String() string {
	if v.D == nil {
		return ""
	}
	return Format(*v.D)
}

// Set parses s into the duration.
func (v Value) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*v.D = d
	return nil
}
