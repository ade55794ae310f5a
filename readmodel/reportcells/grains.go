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
