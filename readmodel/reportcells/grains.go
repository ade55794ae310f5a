package reportcells

// Grains of the cell tables, in ms: every report bucket but minutes is read
// from hour or day cells (the buckets themselves are the query side's:
// query.BucketSize).
const (
	GrainHourMs = 3600000
	GrainDayMs  = 86400000
)

// FloorTo rounds ms down to a multiple of step (step > 0, ms >= 0: facts
// with negative times are never written).
func FloorTo(ms, step int64) int64 { return ms - ms%step }

// StatsHour is the start of the activity stats cell (an hour) holding ms,
// floored toward minus infinity: the activity stats keep activities at any
// time, before 1970 too (migration 0004; the backfill computes the same in
// SQL).
func StatsHour(ms int64) int64 {
	r := ms % GrainHourMs
	if r < 0 {
		r += GrainHourMs
	}
	return ms - r
}
