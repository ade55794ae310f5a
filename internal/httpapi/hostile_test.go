package httpapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/duroscope/duroscope/api"
)

// injections are SQL (and shell, template) injection strings. The API must
// hand each one to the backend byte for byte as a value to match, never
// reinterpret, widen or drop it ("never unfiltered data").
var injections = []string{
	`' OR 1=1 --`, `' OR '1'='1`, `'; DROP TABLE instances; --`, `") OR ("1"="1`, `\' OR 1=1 #`,
	`1; SELECT * FROM system.users`, `' UNION ALL SELECT name FROM system.tables --`, `%27`, `{db}`,
	"x' AND sleep(3) --", `\`, `'`, `"`, "`", "$(reboot)", "日本' OR 'ü'='ü",
}

// TestInjectionReachesBackendVerbatim sends every injection string through
// every free-text parameter, the instance path and the bulk body, and
// checks that the backend receives exactly that string as the filter value.
func TestInjectionReachesBackendVerbatim(t *testing.T) {
	m := newMem()
	h := testHandler(m, nil)
	for _, inj := range injections {
		q := url.QueryEscape(inj)
		for _, c := range []struct {
			target string
			got    func() string
		}{
			{"/v1/instances?orchestration=" + q, func() string { return m.lastList.Orchestration }},
			{"/v1/instances?parent_instance=" + q, func() string { return m.lastList.ParentInstance }},
			{"/v1/instances?instance_prefix=" + q, func() string { return m.lastList.InstancePrefix }},
			{"/v1/stats/orchestrations?orchestration=" + q, func() string { return *m.lastOrch }},
			{"/v1/stats/activities?orchestration=" + q, func() string { return m.lastAct.Orchestration }},
			{"/v1/stats/performance?orchestration=" + q, func() string { return m.lastPerf.Orchestration }},
		} {
			rec := do(h, "GET", c.target, nil)
			if rec.Code != 200 {
				t.Errorf("GET %s: %d %s", c.target, rec.Code, rec.Body)
				continue
			}
			if got := c.got(); got != inj {
				t.Errorf("GET %s reached the backend as %q, want %q", c.target, got, inj)
			}
		}
		m.add(inj)
		for _, sub := range []string{"", "/details", "/executions", "/history"} {
			target := "/v1/instances/" + url.PathEscape(inj) + sub
			m.lastID = ""
			if rec := do(h, "GET", target, nil); rec.Code != 200 || m.lastID != inj {
				t.Errorf("GET %s: %d, backend id %q, want %q", target, rec.Code, m.lastID, inj)
			}
		}
		body, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: []string{inj, "a"}})
		if rec := do(h, "POST", "/v1/bulk/status", strings.NewReader(string(body))); rec.Code != 200 ||
			len(m.lastBulk) != 2 || m.lastBulk[0] != inj || m.lastBulk[1] != "a" {
			t.Errorf("bulk with %q: %d, backend ids %q", inj, rec.Code, m.lastBulk)
		}
	}
}

// TestLongValuesAreRefused sends 10,000-character values to every
// free-text parameter and id: each is a 400 naming it, never a query.
func TestLongValuesAreRefused(t *testing.T) {
	m := newMem()
	h := testHandler(m, nil)
	long := strings.Repeat("x", 10_000)
	for _, c := range []struct{ target, param string }{
		{"/v1/instances?orchestration=" + long, "orchestration"},
		{"/v1/instances?parent_instance=" + long, "parent_instance"},
		{"/v1/instances?instance_prefix=" + long, "instance_prefix"},
		{"/v1/instances?page_token=" + long, "page_token"},
		{"/v1/stats/orchestrations?orchestration=" + long, "orchestration"},
		{"/v1/stats/activities?orchestration=" + long, "orchestration"},
		{"/v1/stats/performance?orchestration=" + long, "orchestration"},
		{"/v1/instances/" + long, "instance id"},
		{"/v1/instances/" + long + "/details", "instance id"},
		{"/v1/instances/" + long + "/executions", "instance id"},
		{"/v1/instances/" + long + "/history", "instance id"},
		{"/v1/instances/" + strings.Repeat("%C3%A9", 5000), "instance id"},
	} {
		rec := do(h, "GET", c.target, nil)
		if rec.Code != 400 {
			t.Errorf("GET %.60s…: %d; want 400", c.target, rec.Code)
			continue
		}
		if e := errorOf(t, rec); !strings.HasPrefix(e.Message, c.param+": ") || len(e.Message) > 400 {
			t.Errorf("GET %.60s…: message %q; want a short one naming %s", c.target, e.Message, c.param)
		}
	}
	body, _ := json.Marshal(api.BulkStatusRequest{InstanceIDs: []string{"a", long}})
	rec := do(h, "POST", "/v1/bulk/status", strings.NewReader(string(body)))
	if rec.Code != 400 || !strings.HasPrefix(errorOf(t, rec).Message, "instance_ids[1]: ") {
		t.Errorf("bulk with a 10,000-byte id: %d %s", rec.Code, rec.Body)
	}
	if m.lastList != nil || m.lastOrch != nil || m.lastAct != nil || m.lastPerf != nil || m.lastID != "" || m.lastBulk != nil {
		t.Errorf("a refused request reached the backend")
	}
}
