package oracle

import (
	"sort"

	"github.com/duroscope/duroscope/api"
)

// Tree answers GET /v1/instances/{id}/tree: the root of id's family
// (parent_instance followed up while the parent is a known instance) and
// every instance below it, root first, then by created_at, instance_id.
// Deleted instances are not known; an unknown id is not found.
func (o *Oracle) Tree(id string) (api.InstanceTree, bool) {
	if _, ok := o.instances[id]; !ok {
		return api.InstanceTree{}, false
	}
	root := id
	seen := map[string]bool{root: true}
	for {
		p := o.instances[root].summary.ParentInstance
		if p == nil || seen[*p] {
			break
		}
		if _, ok := o.instances[*p]; !ok {
			break
		}
		root = *p
		seen[root] = true
	}
	children := map[string][]string{}
	for _, cid := range o.ids {
		if p := o.instances[cid].summary.ParentInstance; p != nil {
			children[*p] = append(children[*p], cid)
		}
	}
	var rest []api.InstanceSummary
	inTree := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range children[cur] {
			if inTree[c] {
				continue
			}
			inTree[c] = true
			rest = append(rest, o.instances[c].summary)
			queue = append(queue, c)
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].CreatedAt != rest[j].CreatedAt {
			return rest[i].CreatedAt < rest[j].CreatedAt
		}
		return rest[i].InstanceID < rest[j].InstanceID
	})
	return api.InstanceTree{RootID: root, Instances: append([]api.InstanceSummary{o.instances[root].summary}, rest...)}, true
}
