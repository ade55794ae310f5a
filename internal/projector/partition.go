package projector

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"
)

// owns reports whether this partition projects the instance.
func (p *Projector) owns(instanceID string) bool {
	if p.cfg.Partitions == 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(instanceID))
	return int(h.Sum32()%uint32(p.cfg.Partitions)) == p.cfg.Partition
}

// seedKnown fills the filter of instances the read model already holds
// (among those this partition owns): derive reads back only those.
func (p *Projector) seedKnown(ctx context.Context) error {
	start := time.Now()
	var ids []string
	err := p.cfg.Store.ScanInstanceIDs(ctx, func(id string) error {
		if p.owns(id) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan known instances: %w", err)
	}
	p.known = newKnownSet(max(2*len(ids), 1<<20), 0.001)
	for _, id := range ids {
		p.known.Add(id)
	}
	p.log.Info().Int("instances", len(ids)).Int("filter_bytes", p.known.Bytes()).Dur("took", time.Since(start)).Msg("known instances loaded")
	return nil
}
