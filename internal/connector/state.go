package connector

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// instState is what the connector has published of one instance id, the
// part that reconciliation and the msg-id rule need.
type instState struct {
	// Born is the timestamp_ms of execution 1's OrchestrationStarted as
	// published (0 = not seen): it tells one incarnation of an id from
	// the next.
	Born uint64 `json:"b,omitempty"`
	// Deleted is the timestamp_ms of the latest InstanceDeleted sent for
	// the id (0 = never).
	Deleted uint64 `json:"d,omitempty"`
	// Execs are the executions published and not since pruned or deleted,
	// ascending.
	Execs []uint64 `json:"x,omitempty"`
}

func (s *instState) has(exec uint64) bool {
	_, ok := slices.BinarySearch(s.Execs, exec)
	return ok
}

func (s *instState) add(exec uint64) bool {
	i, ok := slices.BinarySearch(s.Execs, exec)
	if ok {
		return false
	}
	s.Execs = slices.Insert(s.Execs, i, exec)
	return true
}

// published is the connector's memory of what it has published, per
// instance id. It lives in memory and in the KV bucket (the journal and
// checkpoints of checkpoint.go, written with the batch that changed it, so
// it is stored before the position that covers it).
type published struct {
	m map[string]*instState
}

func newPublished() *published { return &published{m: make(map[string]*instState)} }

// stateKeyPrefix starts the KV key of an instance's state as versions
// before the journal wrote it (one key per id; still read at start-up);
// the rest is the id in unpadded base64url (KV keys allow only
// [-/_=.A-Za-z0-9]).
const stateKeyPrefix = "i."

func stateKey(id string) string {
	return stateKeyPrefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

func idFromStateKey(key string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, stateKeyPrefix))
	if err != nil {
		return "", fmt.Errorf("bad state key %q: %w", key, err)
	}
	return string(b), nil
}

// rowEffect is what publishing one row means for the state: the row's
// Nats-Msg-Id, a notice to send before it (an id reused after a deletion
// that reconciliation has not seen yet), and whether the state changed.
type rowEffect struct {
	msgID   string
	notice  *events.Notice
	changed bool
}

// apply records the publication of a row of key (id, exec, event) whose
// execution-1 OrchestrationStarted carries born (0 for other rows or when
// unreadable).
//
// A second incarnation of an id shows itself by its execution 1 event 1:
// the same key with another start time, or at all once execution 1 was
// pruned (pruning is permanent). Its events then need an InstanceDeleted
// for the old incarnation first, stamped just before the new one began
// (every old event is older, every new one is not), and the msg-id suffix.
func (p *published) apply(id string, exec, event, born uint64) rowEffect {
	s := p.m[id]
	eff := rowEffect{}
	if s == nil {
		s = &instState{}
		p.m[id] = s
		eff.changed = true
	}
	if exec == 1 && event == 1 && born != 0 {
		switch {
		case s.Born == born:
		case s.Born == 0 && (len(s.Execs) == 0 || s.has(1)):
			// First sight of this incarnation's start (or the id's
			// state holds only an earlier deletion).
			s.Born, eff.changed = born, true
		default:
			// A new incarnation of a live id.
			at := born - 1
			if at <= s.Deleted {
				at = s.Deleted + 1
			}
			n := events.InstanceDeleted(id, at)
			eff.notice = &n
			*s = instState{Born: born, Deleted: at}
			eff.changed = true
		}
	}
	if s.add(exec) {
		eff.changed = true
	}
	eff.msgID = events.ReincarnatedMsgID(id, exec, event, s.Deleted)
	return eff
}

// noticed records a deletion or prune the source reported itself and
// returns the notice to publish: an InstanceDeleted stamped after any
// earlier one of the id (so the msg-id suffix of a later incarnation
// moves on), an ExecutionsPruned as reported.
func (p *published) noticed(n events.Notice) events.Notice {
	s := p.m[n.InstanceID]
	if s == nil {
		s = &instState{}
		p.m[n.InstanceID] = s
	}
	if n.Type == events.TypeInstanceDeleted {
		at := max(n.TimestampMs, s.Deleted+1)
		*s = instState{Deleted: at}
		return events.InstanceDeleted(n.InstanceID, at)
	}
	s.Execs = slices.DeleteFunc(s.Execs, func(e uint64) bool { return slices.Contains(n.ExecutionIDs, e) })
	return n
}

// sortedIDs returns the ids with state, ascending.
func (p *published) sortedIDs() []string {
	ids := make([]string, 0, len(p.m))
	for id := range p.m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// reconcile compares the published instances ids (ascending, all within
// the inventory's id range) with the store's inventory of that range and
// returns the notices for what the store no longer holds, updating the
// state. changed lists the ids whose state changed.
func (p *published) reconcile(ids []string, inv []Inventory, nowMs uint64) (notices []events.Notice, changed []string) {
	j := 0
	for _, id := range ids {
		for j < len(inv) && inv[j].InstanceID < id {
			j++
		}
		s := p.m[id]
		if s == nil || len(s.Execs) == 0 && s.Born == 0 {
			continue // nothing of it is shown (never published, or deleted already)
		}
		if j < len(inv) && inv[j].InstanceID == id {
			var gone []uint64
			for _, e := range s.Execs {
				if _, ok := slices.BinarySearch(inv[j].ExecutionIDs, e); !ok {
					gone = append(gone, e)
				}
			}
			if len(gone) > 0 {
				notices = append(notices, events.ExecutionsPruned(id, gone, nowMs))
				s.Execs = slices.DeleteFunc(s.Execs, func(e uint64) bool { _, g := slices.BinarySearch(gone, e); return g })
				changed = append(changed, id)
			}
			continue
		}
		at := max(nowMs, s.Deleted+1)
		notices = append(notices, events.InstanceDeleted(id, at))
		*s = instState{Deleted: at}
		changed = append(changed, id)
	}
	return notices, changed
}

func (p *published) load(key string, value []byte) error {
	id, err := idFromStateKey(key)
	if err != nil {
		return err
	}
	var s instState
	if err := json.Unmarshal(value, &s); err != nil {
		return fmt.Errorf("state of %q: %w", id, err)
	}
	p.m[id] = &s
	return nil
}
