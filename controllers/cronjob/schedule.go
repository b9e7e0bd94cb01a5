package cronjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule yields the activation times of a cron expression.
type Schedule interface {
	// Next returns the first activation strictly after t, or the zero
	// time when there is none within five years (e.g. "0 0 30 2 *").
	Next(t time.Time) time.Time
}

// bounds of one field of a 5-field expression.
type bounds struct {
	name     string
	min, max uint
	names    map[string]uint
}

var (
	minutes = bounds{"minute", 0, 59, nil}
	hours   = bounds{"hour", 0, 23, nil}
	doms    = bounds{"day of month", 1, 31, nil}
	months  = bounds{"month", 1, 12, map[string]uint{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	// Day of week accepts 7 as a second Sunday, as Vixie cron does.
	dows = bounds{"day of week", 0, 7, map[string]uint{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

// starBit marks a field written as "*" or "?": day of month and day of
// week combine with AND when either is a star and with OR otherwise, the
// classic cron rule ("0 0 1 * MON" is the 1st and every Monday).
const starBit = 1 << 63

var descriptors = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// ParseSchedule parses a standard cron expression: five fields with
// lists, ranges, steps and month/weekday names, an @-descriptor, or
// "@every <duration>". A leading CRON_TZ=<zone> or TZ=<zone> selects the
// zone; otherwise times are computed in loc.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		tz, rest, ok := strings.Cut(spec, " ")
		if !ok {
			return nil, fmt.Errorf("missing schedule after %q", tz)
		}
		_, name, _ := strings.Cut(tz, "=")
		l, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", name, err)
		}
		loc, spec = l, strings.TrimSpace(rest)
	}
	if loc == nil {
		loc = time.Local
	}
	if strings.HasPrefix(spec, "@") {
		if d, ok := strings.CutPrefix(spec, "@every "); ok {
			dur, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return nil, fmt.Errorf("failed to parse duration %s: %w", spec, err)
			}
			// Sub-second intervals make no sense for jobs; like robfig/cron,
			// round up to one second.
			if dur < time.Second {
				dur = time.Second
			}
			return every(dur.Truncate(time.Second)), nil
		}
		expanded, ok := descriptors[strings.ToLower(spec)]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor: %s", spec)
		}
		spec = expanded
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), spec)
	}
	s := &specSchedule{loc: loc}
	var err error
	for i, p := range []struct {
		dst *uint64
		b   bounds
	}{{&s.minute, minutes}, {&s.hour, hours}, {&s.dom, doms}, {&s.month, months}, {&s.dow, dows}} {
		if *p.dst, err = parseField(fields[i], p.b); err != nil {
			return nil, err
		}
	}
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	return s, nil
}

// parseField turns "1,5-10/2,MON" into a bit set of the values it names.
func parseField(expr string, b bounds) (uint64, error) {
	var bits uint64
	for _, item := range strings.Split(expr, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := uint(1)
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("invalid step %q in %s field: %s", stepStr, b.name, expr)
			}
			step = uint(n)
		}
		var lo, hi uint
		var extra uint64
		if rng == "*" || rng == "?" {
			lo, hi = b.min, b.max
			if b.name == dows.name {
				hi = 6 // "*" must not set the duplicate Sunday bit
			}
			if step == 1 {
				extra = starBit
			}
		} else {
			loStr, hiStr, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = b.value(loStr); err != nil {
				return 0, err
			}
			hi = lo
			switch {
			case isRange:
				if hi, err = b.value(hiStr); err != nil {
					return 0, err
				}
			case hasStep:
				hi = b.max // "N/step" means "N-max/step"
			}
			if lo > hi {
				return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", lo, hi, expr)
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << v
		}
		bits |= extra
	}
	return bits, nil
}

func (b bounds) value(s string) (uint, error) {
	if v, ok := b.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %q in %s field", s, b.name)
	}
	if n < int(b.min) || n > int(b.max) {
		return 0, fmt.Errorf("%s value %d out of range [%d, %d]", b.name, n, b.min, b.max)
	}
	return uint(n), nil
}

type specSchedule struct {
	minute, hour, dom, month, dow uint64
	loc                           *time.Location
}

// Next walks forward field by field from the largest unit, resetting the
// smaller ones whenever a larger one moves (the robfig/cron algorithm).
// As with robfig/cron, which upstream uses, a wall-clock time that a DST
// change skips does not fire, and one that repeats may fire twice.
func (s *specSchedule) Next(t time.Time) time.Time {
	orig := t.Location()
	t = t.In(s.loc)
	// The first candidate is the next whole minute.
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	reset := false
	yearLimit := t.Year() + 5
wrap:
	if t.Year() > yearLimit {
		return time.Time{}
	}
	for s.month&(1<<uint(t.Month())) == 0 {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, s.loc)
		}
		t = t.AddDate(0, 1, 0)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc)
		}
		t = t.AddDate(0, 0, 1)
		// Midnight may not exist (DST at 00:00): snap back to the day start.
		if t.Hour() != 0 {
			if t.Hour() > 12 {
				t = t.Add(time.Duration(24-t.Hour()) * time.Hour)
			} else {
				t = t.Add(-time.Duration(t.Hour()) * time.Hour)
			}
		}
		if t.Day() == 1 {
			goto wrap
		}
	}
	for s.hour&(1<<uint(t.Hour())) == 0 {
		if !reset {
			reset = true
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, s.loc)
		}
		t = t.Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for s.minute&(1<<uint(t.Minute())) == 0 {
		if !reset {
			reset = true
			t = t.Truncate(time.Minute)
		}
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	return t.In(orig)
}

func (s *specSchedule) dayMatches(t time.Time) bool {
	domMatch := s.dom&(1<<uint(t.Day())) != 0
	dowMatch := s.dow&(1<<uint(t.Weekday())) != 0
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// every is "@every <duration>": a fixed period from the previous time.
type every time.Duration

func (e every) Next(t time.Time) time.Time {
	return t.Add(time.Duration(e) - time.Duration(t.Nanosecond()))
}

// mostRecent returns the latest activation in (earliest, now], the zero
// time if there is none, and how many activations that interval holds,
// counted up to limit+1 so that callers can tell "more than limit".
func mostRecent(s Schedule, earliest, now time.Time, limit int) (time.Time, int) {
	first := s.Next(earliest)
	if first.IsZero() || first.After(now) {
		return time.Time{}, 0
	}
	missed := 0
	for t := first; !t.IsZero() && !t.After(now) && missed <= limit; t = s.Next(t) {
		missed++
	}
	// The last activation is found from a window before now that doubles
	// until it holds one, so a year of every-minute ticks is not walked.
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(earliest) {
			from = earliest
		}
		if t := s.Next(from); !t.IsZero() && !t.After(now) {
			last := t
			for n := s.Next(t); !n.IsZero() && !n.After(now); n = s.Next(n) {
				last = n
			}
			return last, missed
		}
		if from.Equal(earliest) {
			return time.Time{}, missed // unreachable: first <= now
		}
	}
}
