package gen

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/duroscope/duroscope/events"
)

// shape is one kind of workflow: its instance-id prefix, how common it is,
// and the orchestration code it runs.
type shape struct {
	prefix string
	weight int
	run    func(b *builder, n int64)
}

// shapes is the weighted mix of top-level workflows.
var shapes = []shape{
	{"order", 25, shapeOrder},
	{"welcome", 12, shapeWelcome},
	{"timeout", 10, shapeTimeout},
	{"approval", 10, shapeApproval},
	{"import", 12, shapeImport},
	{"batch", 8, shapeBatch},
	{"monitor", 8, shapeMonitor},
	{"chat", 6, shapeChat},
	{"signal", 5, shapeSignal},
	{"provision", 4, shapeProvision},
}

var shapeWeightTotal = func() int {
	t := 0
	for _, s := range shapes {
		t += s.weight
	}
	return t
}()

func pickShape(rng *rand.Rand) *shape {
	r := rng.IntN(shapeWeightTotal)
	for i := range shapes {
		if r < shapes[i].weight {
			return &shapes[i]
		}
		r -= shapes[i].weight
	}
	return &shapes[len(shapes)-1]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// shapeOrder: a sequence of activities with retries on the payment, custom
// status, key-value state, and an occasional nondeterminism failure after a
// version bump.
func shapeOrder(b *builder, n int64) {
	rng := b.rng
	version := "1.0.0"
	switch r := rng.IntN(100); {
	case r >= 85:
		version = "2.0.0"
	case r >= 50:
		version = "1.1.0"
	}
	id := itoa(n)
	input := `{"order_id":` + id + `,"amount":` + strconv.Itoa(5+rng.IntN(500)) + `}`
	b.start("ProcessOrder", version, input)
	if version != "1.0.0" {
		b.syscall("utcnow")
	}
	withStatus := rng.IntN(2) == 0
	if withStatus {
		b.status("validating")
	}
	if a := b.activity(pValidate, input); !a.ok {
		b.failApp("validation failed: " + a.details.Message)
		return
	}
	if rng.IntN(4) == 0 {
		b.kvSet("order_state", "validated", 0)
	}
	if a, _ := b.retry(pReserve, id, 2, 200); !a.ok {
		b.failApp("could not reserve stock: " + a.details.Message)
		return
	}
	if version == "2.0.0" && rng.IntN(30) == 0 {
		d, raw := nondeterminism("activity:ChargeCard", rng.IntN(2) == 0)
		b.fail(d, raw)
		return
	}
	if a, tries := b.retry(pCharge, id, 3, 500); !a.ok {
		b.failApp("payment failed after " + strconv.Itoa(tries) + " attempt(s): " + a.details.Message)
		return
	}
	if withStatus {
		b.status("shipping")
	}
	if a := b.activity(pShip, id); !a.ok {
		b.failApp("shipping failed: " + a.details.Message)
		return
	}
	b.activity(pConfirm, id) // best effort: a failed e-mail does not fail the order
	if withStatus && rng.IntN(3) == 0 {
		b.clearStatus()
	}
	b.complete(`{"order_id":` + id + `,"status":"shipped"}`)
}

// shapeWelcome: fan-out/fan-in over a list of users, twice.
func shapeWelcome(b *builder, n int64) {
	k := 2 + b.rng.IntN(10)
	users := make([]string, k)
	input := []byte{'['}
	for i := range users {
		users[i] = "user-" + itoa(n) + "-" + strconv.Itoa(i)
		if i > 0 {
			input = append(input, ',')
		}
		input = append(input, `"`+users[i]+`"`...)
	}
	input = append(input, ']')
	b.start("WelcomeUsers", "1.0.0", string(input))
	profiles := b.fanOut(pFetchProfile, users)
	b.awaitAll(profiles)
	var ok []string
	for i, a := range profiles {
		if a.ok {
			ok = append(ok, users[i])
		}
	}
	if len(ok) == 0 {
		b.failApp("no user profile could be fetched")
		return
	}
	mails := b.fanOut(pWelcome, ok)
	b.awaitAll(mails)
	sent := 0
	for _, a := range mails {
		if a.ok {
			sent++
		}
	}
	b.complete(`"` + strconv.Itoa(sent) + ` welcomed"`)
}

// shapeTimeout: an activity racing a timer. The loser is dropped: a losing
// activity gets ActivityCancelRequested "dropped_future", a losing timer
// still fires later if the execution is alive.
func shapeTimeout(b *builder, n int64) {
	rng := b.rng
	job := `"job-` + itoa(n) + `"`
	b.start("TimeoutExample", "1.0.0", `{"job":`+job+`}`)
	a := b.schedule(pSlow, job)
	t := b.timer(int64(2000 + 1000*rng.IntN(9)))
	if a.doneAt < t.fireAt {
		b.await(&a)
		b.dropTimer(t)
		b.tick()
		if !a.ok {
			b.failApp("operation failed: " + a.details.Message)
			return
		}
		b.activity(pRecord, job)
		b.complete(`"ok"`)
		return
	}
	b.fire(t)
	b.emit(events.TypeActivityCancelRequested, a.id).Reason = "dropped_future"
	b.tick()
	if rng.IntN(2) == 0 {
		b.failApp("operation timed out")
		return
	}
	b.activity(pFallback, job)
	b.complete(`"fallback"`)
}

// shapeApproval: waits for a human, with reminder timers racing the
// external event; losing subscriptions are cancelled. Left running, it may
// wait forever.
func shapeApproval(b *builder, n int64) {
	rng := b.rng
	doc := itoa(n)
	b.start("ApprovalWorkflow", "1.0.0", `{"doc":`+doc+`}`)
	b.activity(pSubmit, doc)
	delays := [...]int64{5000, 60000, 3600000}
	delay := delays[rng.IntN(len(delays))]
	arrive := b.arrival(float64(delay)*1.5, 0.5)
	for round := 0; ; round++ {
		t := b.timer(delay)
		s := b.subscribe("ApprovalEvent", false)
		if arrive <= t.fireAt {
			approved := rng.IntN(4) != 0
			data := `{"approved":false}`
			if approved {
				data = `{"approved":true}`
			}
			b.raise(s, data, arrive)
			b.dropTimer(t)
			b.tick()
			b.activity(pDecision, data)
			if approved {
				b.complete(`"approved"`)
			} else {
				b.complete(`"rejected"`)
			}
			return
		}
		b.fire(t)
		b.unsubscribe(s, "dropped_future")
		b.tick()
		if round == 2 {
			if rng.IntN(2) == 0 {
				b.failApp("approval timed out after 3 reminders")
			} else {
				b.complete(`"auto-rejected"`)
			}
			return
		}
		b.activity(pReminder, doc)
		b.status("waiting for approval (reminder " + strconv.Itoa(round+1) + ")")
	}
}

// shapeImport: system calls, key-value state, a flaky download retried with
// exponential backoff (infrastructure failures) until it works or fails for
// good (application failure), then a fan-out write.
func shapeImport(b *builder, n int64) {
	rng := b.rng
	version := "2.1.0"
	if rng.IntN(3) == 0 {
		version = "2.0.0"
	}
	src := "s3://bucket/batch-" + itoa(n) + ".csv"
	b.start("ImportBatch", version, `{"source":"`+src+`"}`)
	guid := b.syscall("new_guid")
	var lastUpdated int64
	if rng.IntN(2) == 0 {
		lastUpdated = b.now - 1
	}
	b.kvSet("batch", guid, lastUpdated)
	a, tries := b.retry(pFetch, src, 3+rng.IntN(3), 100)
	if !a.ok {
		b.kvClear("batch")
		b.failApp("import failed after " + strconv.Itoa(tries) + " attempt(s): " + a.details.Message)
		return
	}
	if a := b.activity(pParse, src); !a.ok {
		b.kvClear("batch")
		b.failApp("parse failed: " + a.details.Message)
		return
	}
	chunks := make([]string, 1+rng.IntN(4))
	for i := range chunks {
		chunks[i] = guid + "/" + strconv.Itoa(i)
	}
	writes := b.fanOut(pWrite, chunks)
	b.awaitAll(writes)
	for _, w := range writes {
		if !w.ok {
			b.kvClear("batch")
			b.failApp("write failed: " + w.details.Message)
			return
		}
	}
	b.syscall("utcnow")
	b.kvClear("batch")
	b.complete(`{"records":` + strconv.Itoa(100+rng.IntN(100000)) + `}`)
}

// shapeBatch: fan-out over sub-orchestrations; a failed child fails the
// parent most of the time. Children may nest once.
func shapeBatch(b *builder, n int64) {
	rng := b.rng
	name, version := "ParentFan", "1.0.0"
	if rng.IntN(2) == 0 {
		name, version = "BatchProcessor", "1.2.0"
	}
	k := 1 + rng.IntN(4)
	b.start(name, version, `{"items":`+strconv.Itoa(k)+`}`)
	runBatchChildren(b, k)
}

func runBatchChildren(b *builder, k int) {
	rng := b.rng
	subs := make([]sub, k)
	for i := range subs {
		if i > 0 && rng.IntN(2) == 0 {
			b.now++
		}
		in := strconv.Itoa(i) + "," + strconv.Itoa(i+1)
		switch r := rng.IntN(10); {
		case r < 4:
			subs[i] = b.subOrchestration("ChildSum", in, childSum)
		case r < 9 || b.depth > 0:
			subs[i] = b.subOrchestration("ProcessItem", in, childItem)
		default:
			subs[i] = b.subOrchestration("BatchProcessor", in, childBatch)
		}
	}
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	for i := 1; i < k; i++ { // insertion sort by arrival: k is tiny
		for j := i; j > 0 && subs[order[j]].doneAt < subs[order[j-1]].doneAt; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for _, i := range order {
		b.awaitSub(&subs[i])
	}
	b.tick()
	failed := 0
	for _, s := range subs {
		if !s.ok {
			failed++
		}
	}
	if failed > 0 && rng.IntN(10) < 7 {
		b.failApp(strconv.Itoa(failed) + " of " + strconv.Itoa(k) + " items failed")
		return
	}
	b.complete(`{"done":` + strconv.Itoa(k-failed) + `}`)
}

func childSum(b *builder, input string) {
	b.start("ChildSum", "1.0.0", input)
	b.activity(pAdd, input)
	sum := 0
	for _, f := range strings.Split(input, ",") {
		v, _ := strconv.Atoi(f)
		sum += v
	}
	b.complete(strconv.Itoa(sum))
}

func childItem(b *builder, input string) {
	b.start("ProcessItem", "1.0.0", input)
	if b.rng.IntN(3) == 0 {
		t := b.timer(int64(100 + b.rng.IntN(2000))) // rate limiting pause
		b.fire(t)
		b.tick()
	}
	a := b.activity(pItem, input)
	if !a.ok {
		b.failApp("item rejected: " + a.details.Message)
		return
	}
	b.complete(`"processed ` + input + `"`)
}

func childBatch(b *builder, input string) {
	b.start("BatchProcessor", "1.2.0", input)
	runBatchChildren(b, 1+b.rng.IntN(2))
}

// shapeMonitor: an eternal-orchestration loop with continue-as-new: several
// executions, initial_custom_status and carried-forward events.
func shapeMonitor(b *builder, n int64) {
	rng := b.rng
	name, version, p := "Counter", "1.0.0", pEcho
	if rng.IntN(2) == 0 {
		name, version, p = "MonitorJob", "1.1.0", pCheck
	}
	executions := 2 + rng.IntN(5)
	intervals := [...]int64{1000, 5000, 30000, 60000}
	interval := intervals[rng.IntN(len(intervals))]
	b.start(name, version, "0")
	for k := 0; ; k++ {
		ks := strconv.Itoa(k)
		a := b.activity(p, ks)
		if rng.IntN(3) == 0 {
			b.status("n=" + ks)
		}
		if !a.ok && rng.IntN(2) == 0 {
			b.failApp("monitor check failed: " + a.details.Message)
			return
		}
		if k == executions-1 {
			b.complete(`"done after ` + strconv.Itoa(k+1) + ` rounds"`)
			return
		}
		t := b.timer(interval)
		b.fire(t)
		b.tick()
		next := strconv.Itoa(k + 1)
		b.continueAsNew(next)
		var initial events.OptString
		if rng.IntN(10) < 7 {
			initial = events.OptString{Value: "n=" + next, Valid: true}
		}
		var carry [][2]string
		if rng.IntN(5) == 0 {
			carry = [][2]string{{"config-update", `{"interval":` + strconv.FormatInt(interval, 10) + `}`}}
		}
		b.startWith(name, version, next, initial, carry)
	}
}

// shapeChat: a persistent inbox subscription re-armed after each message,
// tagged activities with sessions, an idle timeout that cancels the
// persistent subscription, and a chained audit instance.
func shapeChat(b *builder, n int64) {
	rng := b.rng
	b.start("CopilotChat", "1.0.0", `{"user":"u-`+itoa(n)+`"}`)
	var session events.OptString
	if rng.IntN(2) == 0 {
		session = events.OptString{Value: "sess-" + itoa(n), Valid: true}
	}
	gpu := events.OptString{Value: "gpu", Valid: true}
	s := b.subscribe("inbox", true)
	reply := ""
	for i, msgs := 0, 1+rng.IntN(5); i < msgs; i++ {
		b.raise(s, "message "+strconv.Itoa(i+1), b.arrival(20000, 0.3))
		b.tick()
		tag := gpu
		if rng.IntN(5) == 0 {
			tag = events.OptString{}
		}
		a := b.scheduleTagged(pGenerate, "message "+strconv.Itoa(i+1), session, tag)
		b.await(&a)
		b.tick()
		if a.ok {
			reply = a.result
			if i == 0 {
				b.kvSet("conversation", b.id, 0)
			} else {
				b.kvSet("last_reply", reply, b.now-1)
			}
		} else {
			b.status("degraded: " + a.details.Message)
		}
		s = b.subscribe("inbox", true)
	}
	idle := b.timer(600000)
	b.fire(idle)
	b.unsubscribe(s, "dropped_future")
	b.tick()
	b.chain("AuditLog", "audit-"+b.id, reply, func(c *builder, input string) {
		c.start("AuditLog", "1.0.0", input)
		c.activity(pAudit, input)
		c.complete(`"logged"`)
	})
	b.kvClearAll()
	b.complete(`"conversation closed"`)
}

// shapeSignal: waits for one external signal; sometimes with a timeout that
// cancels the subscription, otherwise (when left running) maybe forever.
func shapeSignal(b *builder, n int64) {
	rng := b.rng
	b.start("WaitForSignal", "1.0.0", `{"key":"sig-`+itoa(n)+`"}`)
	s := b.subscribe("Signal", false)
	if rng.IntN(4) == 0 {
		t := b.timer(30000)
		at := b.arrival(40000, 0)
		if at > t.fireAt {
			b.fire(t)
			b.unsubscribe(s, "dropped_future")
			b.tick()
			if rng.IntN(2) == 0 {
				b.failApp("no signal within 30s")
			} else {
				b.complete(`"timeout"`)
			}
			return
		}
		b.raise(s, `"go"`, at)
		b.dropTimer(t)
	} else {
		b.raise(s, `"go"`, b.arrival(120000, 0.6))
	}
	b.tick()
	b.activity(pHandle, `"go"`)
	b.complete(`"handled"`)
}

// shapeProvision: long-running activities (tens of seconds) with progress in
// the custom status, cleared (null) at the end.
func shapeProvision(b *builder, n int64) {
	rng := b.rng
	b.start("ProvisionResources", "3.0.0", `{"region":"eu-west-1","size":"large","n":`+itoa(n)+`}`)
	req := b.syscall("new_guid")
	b.kvSet("request_id", req, b.now-1)
	b.status("provisioning 1/3")
	if a, tries := b.retry(pVM, req, 3, 2000); !a.ok {
		b.clearStatus()
		b.failApp("provisioning failed after " + strconv.Itoa(tries) + " attempt(s): " + a.details.Message)
		return
	}
	b.kvSet("vm_id", "vm-"+req[:8], 0)
	b.status("provisioning 2/3")
	b.activity(pNetwork, req)
	b.status("provisioning 3/3")
	if a := b.activity(pHealth, req); !a.ok {
		if rng.IntN(2) == 0 {
			b.failApp(a.details.Message)
			return
		}
	}
	b.syscall("utcnow")
	b.clearStatus()
	b.kvClear("request_id")
	b.complete(`{"vm":"vm-` + req[:8] + `"}`)
}
