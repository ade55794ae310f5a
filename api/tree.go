package api

// InstanceTree answers GET /v1/instances/{id}/tree (API.md "Additions"):
// the instance's root (following parent_instance up) and every descendant,
// root first, then by created_at, instance_id.
type InstanceTree struct {
	RootID    string            `json:"root_id"`
	Instances []InstanceSummary `json:"instances"`
}
