package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duroscope/duroscope/api"
	"github.com/duroscope/duroscope/client"
)

const timeForms = "RFC 3339 (2026-11-25T21:38:00Z), a date (2026-11-25, UTC), epoch milliseconds, or a duration ago (24h)"

// parseTime reads a time argument: RFC 3339, a UTC date, integer epoch
// milliseconds (the contract's other form), or a Go duration meaning "that
// long before now" — the usual way to say "the last day".
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time: want %s", timeForms)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want %s", s, timeForms)
}

// timeFlag registers a time-valued flag.
func timeFlag(fs *flag.FlagSet, dst *time.Time, name, usage string, now func() time.Time) {
	fs.Func(name, usage+"; "+timeForms, func(s string) error {
		t, err := parseTime(s, now())
		if err != nil {
			return err
		}
		*dst = t
		return nil
	})
}

// durationFlag registers a positive-duration flag; 0 (unset) means the
// service's default.
func durationFlag(fs *flag.FlagSet, dst *time.Duration, name, usage string) {
	fs.Func(name, usage, func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want a positive Go duration such as 90s, 30m or 24h", s)
		}
		*dst = d
		return nil
	})
}

// listFlag registers a flag that may be repeated and takes comma lists.
func listFlag(fs *flag.FlagSet, dst *[]string, name, usage string, normalize func(string) string) {
	fs.Func(name, usage+" (repeatable or comma separated)", func(s string) error {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return fmt.Errorf("%q: empty element", s)
			}
			if normalize != nil {
				part = normalize(part)
			}
			*dst = append(*dst, part)
		}
		return nil
	})
}

// canonicalStatus fixes the case of a known status ("running" -> "Running");
// the service rejects the wrong case, a person typing a filter means the same.
func canonicalStatus(s string) string {
	for _, st := range []string{api.StatusRunning, api.StatusCompleted, api.StatusFailed} {
		if strings.EqualFold(s, st) {
			return st
		}
	}
	return s
}

// listFilters are the instance filters shared by "instances list" and "export".
type listFilters struct {
	p client.ListParams
}

func (f *listFilters) register(fs *flag.FlagSet, now func() time.Time) {
	f.registerFilters(fs, now)
	fs.IntVar(&f.p.Limit, "limit", 0, "page size, 1..1000 (default: the service's, 100)")
}

// registerFilters registers the filters alone (no paging): "instances count".
func (f *listFilters) registerFilters(fs *flag.FlagSet, now func() time.Time) {
	listFlag(fs, &f.p.Statuses, "status", "only these statuses: Running, Completed, Failed", canonicalStatus)
	fs.StringVar(&f.p.Orchestration, "orchestration", "", "only this orchestration name")
	timeFlag(fs, &f.p.CreatedAfter, "created-after", "only instances created at or after this time", now)
	timeFlag(fs, &f.p.CreatedBefore, "created-before", "only instances created before this time", now)
	fs.StringVar(&f.p.ParentInstance, "parent", "", "only sub-orchestrations of this parent instance id")
	fs.StringVar(&f.p.InstancePrefix, "prefix", "", "only instance ids starting with this prefix")
	fs.StringVar(&f.p.Version, "version", "", "only this orchestration version")
	timeFlag(fs, &f.p.UpdatedAfter, "updated-after", "only instances updated at or after this time", now)
	timeFlag(fs, &f.p.UpdatedBefore, "updated-before", "only instances updated before this time", now)
	fs.StringVar(&f.p.CustomStatusPrefix, "custom-status", "", "only instances whose custom status starts with this")
	fs.StringVar(&f.p.ErrorKind, "error-kind", "", "only instances whose error has this kind (e.g. ActivityFailed)")
	fs.StringVar(&f.p.ErrorCategory, "error-category", "", "only instances whose error has this category (e.g. application)")
	fs.BoolVar(&f.p.RootOnly, "root-only", false, "hide sub-orchestrations")
	fs.StringVar(&f.p.ActivityTag, "activity-tag", "", "only instances that scheduled an activity with this tag")
}
