// Package reliability holds Duroscope's fault, hostile-input, load and
// security tests (RELIABILITY.md lists them with the figures of a run). They
// run the real binaries (cmd/projector, cmd/query, cmd/redrive) against a
// real ClickHouse and a real JetStream server, inject faults (SIGKILL,
// stopped servers, refused writes, malformed messages) and check every
// answer against the replay oracle (internal/oracle).
//
// The default variants fit scripts/test.sh's CI budget; DUROSCOPE_HEAVY=1
// runs the long ones (a 60 s load on a 1M-instance read model, more kills).
package reliability
