package gen

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/duroscope/duroscope/events"
)

// profile describes how one activity behaves: a log-normal duration around
// its own median (sigma = spread), an occasional long tail, and its failure
// modes. Real activity latencies are roughly log-normal with heavy tails,
// which is what percentiles in the stats endpoints are meant to show.
type profile struct {
	name      string
	medianMs  float64
	sigma     float64
	tail      float64 // chance of a long-tail multiplier (x5..x50)
	appFail   float64 // chance of an Application failure (not retryable)
	infraFail float64 // chance of an Infrastructure failure (retryable)
	results   []string
	appMsgs   []string
	infraOp   string
	infraMsgs []string
}

// maxActivityMs caps a single activity (4h).
const maxActivityMs = 4 * 3600 * 1000

func (p *profile) duration(rng *rand.Rand) int64 {
	d := lognormal(rng, p.medianMs, p.sigma, 1, maxActivityMs)
	if p.tail > 0 && rng.Float64() < p.tail {
		d *= 5 + rng.Int64N(46)
		d = min(d, maxActivityMs)
	}
	return d
}

// lognormal draws median*e^(sigma*N(0,1)), rounded and clamped to [lo, hi].
func lognormal(rng *rand.Rand, median, sigma float64, lo, hi int64) int64 {
	v := int64(median*math.Exp(sigma*rng.NormFloat64()) + 0.5)
	return max(lo, min(v, hi))
}

// poisonChance is the share of application failures that are poison
// messages instead (a message retried past max_attempts).
const poisonChance = 0.03

// outcome draws whether the activity succeeds and with what.
func (b *builder) outcome(p *profile, a *act) {
	rng := b.rng
	r := rng.Float64()
	switch {
	case r < p.infraFail:
		msg := "transient error"
		if len(p.infraMsgs) > 0 {
			msg = p.infraMsgs[rng.IntN(len(p.infraMsgs))]
		}
		a.details = &events.ErrorDetails{Category: "infrastructure", Kind: p.infraOp, Message: msg, Retryable: true}
		a.retryable = true
	case r < p.infraFail+p.appFail:
		if rng.Float64() < poisonChance {
			a.details, a.raw = b.poison(p.name, a.id)
			return
		}
		msg := "failed"
		if len(p.appMsgs) > 0 {
			msg = p.appMsgs[rng.IntN(len(p.appMsgs))]
		}
		a.details = &events.ErrorDetails{Category: "application", Kind: "ActivityFailed", Message: msg}
		if rng.IntN(50) == 0 {
			a.details.Kind, a.details.Message = "Panicked", "activity panicked: index out of range"
		}
	default:
		a.ok = true
		a.result = "ok"
		if len(p.results) > 0 {
			a.result = p.results[rng.IntN(len(p.results))]
		}
	}
}

// poison is a Poison ErrorDetails with the wire fields the projection drops
// (attempt counts, message type), as Duroxide writes it.
func (b *builder) poison(activity string, id uint64) (*events.ErrorDetails, []byte) {
	const msg = "message exceeded max delivery attempts"
	inst, _ := json.Marshal(b.id) // rare path; ids may hold any characters
	name, _ := json.Marshal(activity)
	raw := []byte(`{"Poison":{"attempt_count":11,"max_attempts":10,"message_type":{"ActivityExecute":{"instance":`)
	raw = append(raw, inst...)
	raw = append(raw, `,"execution_id":`...)
	raw = strconv.AppendUint(raw, b.exec, 10)
	raw = append(raw, `,"id":`...)
	raw = strconv.AppendUint(raw, id, 10)
	raw = append(raw, `,"name":`...)
	raw = append(raw, name...)
	raw = append(raw, `}},"message":"`+msg+`"}}`...)
	return &events.ErrorDetails{Category: "poison", Kind: "Poison", Message: msg}, raw
}

// nondeterminism is the Configuration failure of an orchestration whose code
// no longer matches its history (typically after a version bump).
func nondeterminism(resource string, withMessage bool) (*events.ErrorDetails, []byte) {
	res, _ := json.Marshal(resource)
	d := &events.ErrorDetails{Category: "configuration", Kind: "Nondeterminism"}
	raw := []byte(`{"Configuration":{"kind":"Nondeterminism","resource":`)
	raw = append(raw, res...)
	if withMessage {
		d.Message = "history does not match code: expected ActivityScheduled"
		raw = append(raw, `,"message":"`+d.Message+`"}}`...)
	} else {
		raw = append(raw, `,"message":null}}`...)
	}
	return d, raw
}

var (
	pValidate = &profile{name: "ValidateOrder", medianMs: 15, sigma: 0.5, appFail: 0.02,
		results: []string{`{"valid":true}`}, appMsgs: []string{"invalid shipping address", "amount exceeds limit"}}
	pReserve = &profile{name: "ReserveStock", medianMs: 40, sigma: 0.6, appFail: 0.02, infraFail: 0.02,
		results: []string{"reserved"}, appMsgs: []string{"out of stock"},
		infraOp: "inventory-db", infraMsgs: []string{"deadlock detected", "connection pool exhausted"}}
	pCharge = &profile{name: "ChargeCard", medianMs: 250, sigma: 0.7, tail: 0.01, appFail: 0.04, infraFail: 0.04,
		results: []string{`{"charged":true}`}, appMsgs: []string{"card declined", "insufficient funds"},
		infraOp: "payment-gateway", infraMsgs: []string{"timeout after 30s", "502 bad gateway"}}
	pShip = &profile{name: "ShipOrder", medianMs: 800, sigma: 0.8, tail: 0.02, infraFail: 0.01,
		results: []string{`{"tracking":"1Z999"}`}, infraOp: "carrier-api", infraMsgs: []string{"503 service unavailable"}}
	pConfirm = &profile{name: "SendConfirmation", medianMs: 120, sigma: 0.5, infraFail: 0.01,
		results: []string{"sent"}, infraOp: "smtp", infraMsgs: []string{"connection refused"}}
	pFetchProfile = &profile{name: "FetchUserProfile", medianMs: 60, sigma: 0.6, infraFail: 0.01,
		results: []string{`{"ok":true}`}, infraOp: "users-api", infraMsgs: []string{"connection reset"}}
	pWelcome = &profile{name: "SendWelcomeEmail", medianMs: 200, sigma: 0.6, tail: 0.01, appFail: 0.01,
		results: []string{"sent"}, appMsgs: []string{"mailbox unavailable"}}
	pSlow     = &profile{name: "SlowOperation", medianMs: 3000, sigma: 1.0, tail: 0.02, appFail: 0.02, results: []string{"done"}, appMsgs: []string{"job crashed"}}
	pFallback = &profile{name: "FallbackOperation", medianMs: 100, sigma: 0.5, results: []string{"fallback"}}
	pRecord   = &profile{name: "RecordResult", medianMs: 20, sigma: 0.4, results: []string{"recorded"}}
	pSubmit   = &profile{name: "SubmitForApproval", medianMs: 30, sigma: 0.5, results: []string{"submitted"}}
	pReminder = &profile{name: "SendReminder", medianMs: 20, sigma: 0.5, results: []string{"reminded"}}
	pDecision = &profile{name: "ApplyDecision", medianMs: 50, sigma: 0.5, results: []string{"applied"}}
	pGenerate = &profile{name: "GenerateResponse", medianMs: 1500, sigma: 0.9, tail: 0.03, infraFail: 0.02,
		results: []string{"hi!", "Here is a summary of the document.", "I could not find that."},
		infraOp: "model-endpoint", infraMsgs: []string{"429 too many requests"}}
	pAudit = &profile{name: "AuditWrite", medianMs: 30, sigma: 0.5, results: []string{"logged"}}
	pFetch = &profile{name: "FetchRemoteFile", medianMs: 80, sigma: 0.6, appFail: 0.05, infraFail: 0.35,
		results: []string{"fetched"}, appMsgs: []string{"404 not found", "403 forbidden"},
		infraOp: "fetch", infraMsgs: []string{"connection reset", "TLS handshake timeout"}}
	pParse = &profile{name: "ParseRecords", medianMs: 300, sigma: 0.7, appFail: 0.01,
		results: []string{"parsed"}, appMsgs: []string{"malformed CSV at line 1042"}}
	pWrite = &profile{name: "WriteRecords", medianMs: 500, sigma: 0.8, tail: 0.02, infraFail: 0.02,
		results: []string{"written"}, infraOp: "warehouse", infraMsgs: []string{"write timeout"}}
	pAdd  = &profile{name: "Add", medianMs: 8, sigma: 0.4, results: []string{"ok"}}
	pItem = &profile{name: "ProcessItem", medianMs: 150, sigma: 0.8, appFail: 0.05,
		results: []string{"processed"}, appMsgs: []string{"item rejected"}}
	pCheck = &profile{name: "CheckStatus", medianMs: 25, sigma: 0.5, infraFail: 0.02,
		results: []string{"healthy", "degraded"}, infraOp: "status-api", infraMsgs: []string{"timeout"}}
	pEcho   = &profile{name: "Echo", medianMs: 15, sigma: 0.4}
	pHandle = &profile{name: "HandleSignal", medianMs: 40, sigma: 0.5, results: []string{"handled"}}
	pVM     = &profile{name: "ProvisionVM", medianMs: 20000, sigma: 0.6, tail: 0.02, infraFail: 0.05,
		results: []string{"vm-ready"}, infraOp: "cloud-api", infraMsgs: []string{"quota exceeded", "capacity unavailable"}}
	pNetwork = &profile{name: "ConfigureNetwork", medianMs: 3000, sigma: 0.5, results: []string{"configured"}}
	pHealth  = &profile{name: "HealthCheck", medianMs: 500, sigma: 0.5, appFail: 0.03,
		results: []string{"healthy"}, appMsgs: []string{"health check failed: port 443 closed"}}
)
