package cronjob

import (
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s unavailable: %v", name, err)
	}
	return loc
}

func TestScheduleNext(t *testing.T) {
	utc := time.UTC
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		spec, from string
		want       []string
	}{
		{"* * * * *", "2026-01-01T12:00:30Z", []string{"2026-01-01T12:01:00Z", "2026-01-01T12:02:00Z"}},
		{"*/15 * * * *", "2026-01-01T12:07:00Z", []string{"2026-01-01T12:15:00Z", "2026-01-01T12:30:00Z", "2026-01-01T12:45:00Z", "2026-01-01T13:00:00Z"}},
		{"5/20 * * * *", "2026-01-01T12:00:00Z", []string{"2026-01-01T12:05:00Z", "2026-01-01T12:25:00Z", "2026-01-01T12:45:00Z", "2026-01-01T13:05:00Z"}},
		{"0 9-17/4 * * *", "2026-01-01T10:00:00Z", []string{"2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"}},
		{"0 0 1,15 * *", "2026-01-02T00:00:00Z", []string{"2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z"}},
		{"30 6 * JAN,MAR MON-FRI", "2026-01-30T07:00:00Z", []string{"2026-03-02T06:30:00Z", "2026-03-03T06:30:00Z"}},
		{"0 0 * * sun", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
		{"0 0 * * 7", "2026-01-01T00:00:00Z", []string{"2026-01-04T00:00:00Z"}},
		// Day of month and day of week both restricted: either matches.
		{"0 0 13 * FRI", "2026-02-01T00:00:00Z", []string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"}},
		{"0 0 29 2 *", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
		{"@hourly", "2026-01-01T12:30:00Z", []string{"2026-01-01T13:00:00Z"}},
		{"@daily", "2026-01-01T12:30:00Z", []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
		{"@weekly", "2026-01-01T12:30:00Z", []string{"2026-01-04T00:00:00Z"}},
		{"@monthly", "2026-01-15T12:30:00Z", []string{"2026-02-01T00:00:00Z"}},
		{"@yearly", "2026-01-15T12:30:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"@every 90m", "2026-01-01T12:00:00Z", []string{"2026-01-01T13:30:00Z", "2026-01-01T15:00:00Z"}},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", "2026-01-01T00:00:00Z", []string{"2026-01-02T00:00:00Z"}},
		{"TZ=America/New_York 0 9 * * *", "2026-07-01T00:00:00Z", []string{"2026-07-01T13:00:00Z"}},
		{"TZ=America/New_York 0 9 * * *", "2026-01-01T00:00:00Z", []string{"2026-01-01T14:00:00Z"}},
	} {
		s, err := ParseSchedule(tc.spec, utc)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		cur := at(tc.from)
		for _, w := range tc.want {
			cur = s.Next(cur)
			if !cur.Equal(at(w)) {
				t.Errorf("%q: got %v, want %s", tc.spec, cur.UTC(), w)
				break
			}
		}
	}
}

func TestScheduleLocation(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	s, err := ParseSchedule("0 6 * * *", berlin)
	if err != nil {
		t.Fatal(err)
	}
	// 06:00 Berlin is 05:00 UTC in winter and 04:00 UTC in summer.
	if got := s.Next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 1, 10, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("winter: %v", got.UTC())
	}
	if got := s.Next(time.Date(2026, 7, 10, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 7, 10, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("summer: %v", got.UTC())
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, spec := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "*/0 * * * *", "5-1 * * * *", "@often", "@every x", "CRON_TZ=Nowhere/City * * * * *", "* * * FOO *"} {
		if _, err := ParseSchedule(spec, time.UTC); err == nil {
			t.Errorf("%q: no error", spec)
		}
	}
}

func TestMostRecent(t *testing.T) {
	s, _ := ParseSchedule("*/5 * * * *", time.UTC)
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	last, missed := mostRecent(s, base, base.Add(17*time.Minute), 100)
	if !last.Equal(base.Add(15*time.Minute)) || missed != 3 {
		t.Errorf("got %v, %d", last, missed)
	}
	if last, _ := mostRecent(s, base, base.Add(4*time.Minute), 100); !last.IsZero() {
		t.Errorf("got %v, want none", last)
	}
	// A year of minutes: capped count, exact last tick.
	every, _ := ParseSchedule("* * * * *", time.UTC)
	last, missed = mostRecent(every, base, base.AddDate(1, 0, 0).Add(30*time.Second), 100)
	if !last.Equal(base.AddDate(1, 0, 0)) || missed != 101 {
		t.Errorf("got %v, %d", last, missed)
	}
}
