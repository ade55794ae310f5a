package connector

import (
	"slices"
	"strings"
	"time"

	"github.com/duroscope/duroscope/events"
)

// completeInventory adds, for every execution the connector published that
// the inventory page lacks, the history's own word: only an execution
// without inventory row and without history rows is gone.
func (c *Connector) completeInventory(snap Snapshot, r *readResult) error {
	// The snapshot's own rows are history of the snapshot.
	for _, row := range r.rows {
		if row.InstanceID > c.rec.pageLo && (r.last || row.InstanceID <= c.rec.after) {
			r.inv = mergeInventory(r.inv, row.InstanceID, []uint64{row.ExecutionID})
		}
	}
	for _, id := range r.pageIDs {
		s := c.state.m[id]
		if s == nil || len(s.Execs) == 0 {
			continue
		}
		i, found := slices.BinarySearchFunc(r.inv, id, func(v Inventory, id string) int { return strings.Compare(v.InstanceID, id) })
		if found && containsAll(r.inv[i].ExecutionIDs, s.Execs) {
			continue
		}
		hist, err := snap.HistoryExecutions(id)
		if err != nil {
			return err
		}
		if len(hist) > 0 {
			r.inv = mergeInventory(r.inv, id, hist)
		}
	}
	return nil
}

// mergeInventory adds executions of id to inv (ascending by id).
func mergeInventory(inv []Inventory, id string, execs []uint64) []Inventory {
	i, found := slices.BinarySearchFunc(inv, id, func(v Inventory, id string) int { return strings.Compare(v.InstanceID, id) })
	if !found {
		inv = slices.Insert(inv, i, Inventory{InstanceID: id})
	}
	merged := append(slices.Clone(inv[i].ExecutionIDs), execs...)
	slices.Sort(merged)
	inv[i].ExecutionIDs = slices.Compact(merged)
	return inv
}

func containsAll(have, want []uint64) bool {
	for _, w := range want {
		if _, ok := slices.BinarySearch(have, w); !ok {
			return false
		}
	}
	return true
}

func (c *Connector) startReconcile() {
	now := time.Now()
	c.rec = reconciliation{active: true, ids: c.state.sortedIDs(), started: now, lastStart: now}
}

// page returns the published ids within the range of an inventory page
// (after the previous page, up to the page's last id; up to the end for the
// pass's last page) and advances the pass past it.
func (rc *reconciliation) page(inv []Inventory, pageSize int) (ids []string, last bool) {
	last = len(inv) < pageSize
	rc.pageLo = rc.after
	end := len(rc.ids)
	if !last {
		upto := inv[len(inv)-1].InstanceID
		end = rc.idx
		for end < len(rc.ids) && rc.ids[end] <= upto {
			end++
		}
		rc.after = upto
	}
	ids = rc.ids[rc.idx:end]
	rc.idx = end
	return ids, last
}

// reconcilePage compares one inventory page with the published ids of its
// range; the last page ends the pass.
func (c *Connector) reconcilePage(r readResult) ([]events.Notice, []string) {
	rc := &c.rec
	notices, changed := c.state.reconcile(r.pageIDs, r.inv, uint64(time.Now().UnixMilli()))
	rc.notices += len(notices)
	if r.last {
		took := time.Since(rc.started)
		c.stats.Reconciliations.Add(1)
		c.stats.ReconcileNs.Store(int64(took))
		c.log.Info().Int("instances", len(rc.ids)).Int("notices", rc.notices).Dur("took", took).Msg("reconciled")
		*rc = reconciliation{lastStart: rc.lastStart}
	}
	return notices, changed
}
