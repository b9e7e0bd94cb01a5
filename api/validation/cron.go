package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField describes one field of a standard 5-field cron schedule.
type cronField struct {
	name     string
	min, max int
	names    map[string]int // symbolic values (months, weekdays)
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day of week", min: 0, max: 6, names: map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// cronDescriptors are the @-shorthands the CronJob controller accepts.
var cronDescriptors = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true,
	"@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

// parseCronSchedule checks a schedule the way the CronJob controller will
// read it: a descriptor, "@every <duration>", or five fields of lists,
// ranges and steps. No cron library is available to corral, so this is a
// small parser of its own; it only validates, it never computes times.
func parseCronSchedule(s string) error {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@") {
		if cronDescriptors[s] {
			return nil
		}
		if d, ok := strings.CutPrefix(s, "@every "); ok {
			if _, err := time.ParseDuration(d); err != nil {
				return fmt.Errorf("failed to parse duration %s: %v", s, err)
			}
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", s)
	}
	fields := strings.Fields(s)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(fields), s)
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return err
		}
	}
	return nil
}

func (cf cronField) check(expr string) error {
	for _, item := range strings.Split(expr, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n <= 0 {
				return fmt.Errorf("invalid step %q in %s field: %s", step, cf.name, expr)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		start, err := cf.value(lo)
		if err != nil {
			return err
		}
		end := start
		if isRange {
			if end, err = cf.value(hi); err != nil {
				return err
			}
		}
		if start > end {
			return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
		}
	}
	return nil
}

func (cf cronField) value(s string) (int, error) {
	if v, ok := cf.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %v", s, err)
	}
	if n < cf.min {
		return 0, fmt.Errorf("%s value (%d) below minimum (%d)", cf.name, n, cf.min)
	}
	if n > cf.max {
		return 0, fmt.Errorf("%s value (%d) above maximum (%d)", cf.name, n, cf.max)
	}
	return n, nil
}
