package chconn

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Server-feature detection (the clickhouseexporter's detectSchemaFeatures
// pattern): the server's version is read once, from the handshake of the
// connection (no query), and decides which of the read model's code paths
// its statements take. Each path is named and tested:
//
//	path            servers            what changes
//	split-final     < 23.3 (18.16)     FINAL is read by one thread per query
//	                                   (18.16: one merging stream), so chread
//	                                   may split a scan into UNION ALL key
//	                                   ranges (ReaderConfig.ScanShards).
//	parallel-final  >= 23.3 (25.8,     FINAL is read in parallel (22.6,
//	                26.5 in chDB)      ClickHouse#36396) on as many threads as
//	                                   cores by default (23.3, #47915): scans
//	                                   are never split (the split only adds
//	                                   UNION ALL branches competing for the
//	                                   same cores), and FINAL reads of the
//	                                   report tables carry
//	                                   do_not_merge_across_partitions_select_final=1.
//
// The threshold is the first version where both hold without server
// configuration; between 22.6 and 23.3 max_final_threads defaulted to 16 and
// such servers take split-final, which is exact everywhere. The existing
// 18.16 suite runs split-final; Features{ParallelFinal: true} forces the
// parallel-final SQL, which 18.16 also accepts, and the chDB compatibility
// test (issue 10) runs the detected path on 26.5. PartitionFinal sends a
// setting that 18.16 does not know, so it is tested on 26.5 only.

// Version is a ClickHouse server version (major, minor).
type Version struct{ Major, Minor int }

// AtLeast reports whether v >= o.
func (v Version) AtLeast(o Version) bool {
	return v.Major > o.Major || (v.Major == o.Major && v.Minor >= o.Minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// ParallelFinalSince is the first version on the parallel-final path.
var ParallelFinalSince = Version{23, 3}

// Features are the code paths a server takes. The zero value is the
// split-final path (ClickHouse 18.16), valid on every supported server.
type Features struct {
	// ParallelFinal: the server reads FINAL in parallel, so scans are not
	// split into key ranges.
	ParallelFinal bool
	// PartitionFinal: FINAL reads of the report tables may set
	// do_not_merge_across_partitions_select_final=1. It is exact there
	// because every report table is partitioned by month of a column of its
	// sorting key (hour_ms, bucket_ms), so all versions of a row are in one
	// partition and deduplicating each partition alone dedupes them all;
	// where the server then skips FINAL for a partition (a single part that
	// a merge produced), the merge already kept one row per key. The
	// version-1 tables have no partition key, and are never read with it.
	PartitionFinal bool
}

// Path names the code path of f.
func (f Features) Path() string {
	if f.ParallelFinal {
		return "parallel-final"
	}
	return "split-final"
}

// FeaturesOf returns the features of a server of version v.
func FeaturesOf(v Version) Features {
	current := v.AtLeast(ParallelFinalSince)
	return Features{ParallelFinal: current, PartitionFinal: current}
}

// VersionReporter is what DetectFeatures needs of a connection: driver.Conn
// and LazyConn have it.
type VersionReporter interface {
	ServerVersion() (*driver.ServerVersion, error)
}

// DetectFeatures returns the features of the server conn is connected to,
// from the version it announced when the connection opened.
func DetectFeatures(conn VersionReporter) (Features, Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Features{}, Version{}, fmt.Errorf("clickhouse server version: %w", err)
	}
	v := Version{Major: int(sv.Version.Major), Minor: int(sv.Version.Minor)}
	if v.Major == 0 {
		return Features{}, Version{}, fmt.Errorf("clickhouse server version: the server announced %q", sv.Version)
	}
	return FeaturesOf(v), v, nil
}
