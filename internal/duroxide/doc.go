// Package duroxide drives a real Duroxide for Duroscope's tests, benchmarks
// and local run: it runs orchestrations on a Duroxide store (SQLite file or
// PostgreSQL schema) and reports Duroxide's own client answers, against
// which Duroscope's API answers are compared. Nothing here is a fake: the
// work is done by Duroxide's Rust runtime, through the prebuilt native Node
// addon of microsoft/duroxide-node (npm duroxide-linux-x64-gnu@0.1.29, which
// embeds duroxide 0.1.30 and duroxide-pg), driven by a small Node program
// of ours (driver/, embedded in this package).
//
// # Running
//
// EnsureAddon finds the addon in $DUROSCOPE_NPM_CACHE or ~/.cache/duroscope/npm
// and installs it there with npm when missing. Driver runs one subcommand of
// the Node driver per call (node must be on PATH) and decodes its JSON answer:
// RunScenario, RunLoad, Answers, Delete, DeleteBulk, Prune, PruneBulk. The
// same driver runs by hand; see driver/driver.js for its command lines.
//
// # The addon's protocol
//
// The addon exports JsRuntime, JsClient, JsSqliteProvider and
// JsPostgresProvider (and context helpers such as
// orchestrationSetCustomStatus). The Rust runtime never runs orchestration
// code itself: through JsRuntime.setGeneratorDriver(create, next, dispose)
// it asks JavaScript to create a generator for an execution (payload
// {ctxInfo:{instanceId, executionId, orchestrationName, orchestrationVersion},
// input}), to advance it with a task's result ({generatorId, result,
// isError}) and to dispose of it. Each answer is a step, given synchronously:
// {status:"yielded", generatorId, task}, {status:"completed", output} or
// {status:"error", message}. A task is a descriptor ({type:"activity", name,
// input}, "activityWithRetry", "timer", "waitEvent", "subOrchestrationWithId",
// "orchestration" (detached start), "continueAsNew", "utcNow", "newGuid",
// "join", "select", ...) that Rust executes with its durable context, from
// history on replay. Every turn replays the generator from its start, so
// orchestration code is deterministic. Activities are JavaScript async
// functions registered by name; they get "<ctxInfo JSON>\n<input>" and
// resolve to the output string (a rejection is an activity failure, recorded
// as "Activity '<name>' JS execution failed: GenericFailure, Error: <msg>").
// Inputs and outputs are strings; the driver keeps them JSON texts.
//
// # Duroxide's client answers (Answers)
//
//   - Statuses. getStatus: NotFound, Running, Completed, Failed (a cancelled
//     instance is Failed, its error "canceled: <reason>"). getInstanceInfo and
//     listInstancesByStatus use the status of the instance's current
//     execution: Running, Completed, Failed; getExecutionInfo also answers
//     ContinuedAsNew for the executions a continue-as-new ended.
//     listInstancesByStatus("ContinuedAsNew") is therefore always empty.
//   - An instance exists once the runtime has run its first turn: between
//     startOrchestration and that turn getStatus answers NotFound and
//     getInstanceInfo fails ("Instance <id> not found").
//   - Output and error. output is the orchestration's output text (JSON here);
//     getStatus.error is the failure's display message: the thrown message
//     for an application error, "canceled: <reason>" for a cancellation.
//     getInstanceInfo.output of a Failed instance is that message too.
//   - Custom status. getStatus.customStatus is the last value set (any
//     string), customStatusVersion counts the updates (0 = never set); each
//     update is also a CustomStatusUpdated history event.
//   - Timestamps are Unix milliseconds. On SQLite getInstanceInfo.createdAt,
//     updatedAt and getExecutionInfo.startedAt are always 0 (the columns hold
//     "YYYY-MM-DD HH:MM:SS" text the provider does not read as a number) and
//     completedAt is 0 while Running; on Postgres they are real and
//     completedAt is absent while Running and for ContinuedAsNew executions.
//     Event timestampMs (history) is real on both.
//   - readExecutionHistory(id, executionId) lists the execution's events in
//     event_id order: eventId (1, 2, ... per execution), kind (the event type
//     name, e.g. OrchestrationStarted), sourceEventId (the scheduling event a
//     completion answers), timestampMs and data, the addon's own rendering of
//     the payload: JSON for most kinds, but the verbatim result for
//     ActivityCompleted (a system call's raw value, e.g. a GUID, is not JSON),
//     an invalid `{"name":"__duroxide_syscall:utc_now_ms","input":}` for system
//     call schedules, a JSON ErrorDetails ({"Application":{"kind":...,
//     "message":...,"retryable":false}}) for *Failed kinds, and no data for
//     kinds it does not render (CustomStatusUpdated, OrchestrationChained,
//     OrchestrationContinuedAsNew, cancellations). Compare Duroscope's events
//     with the store's event_data (STORE.md), not with this rendering.
//   - System calls (utcNow, newGuid) are activities named
//     "__duroxide_syscall:utc_now_ms" / "__duroxide_syscall:new_guid".
//   - getInstanceTree(id) is id and its descendants (rootId = id, even for a
//     child or a deleted id); getOrchestrationStats counts the history of the
//     current execution; getSystemMetrics counts instances by the status of
//     their current execution and all executions/history rows.
//   - getQueueDepths counts unlocked messages: on SQLite including messages
//     not yet visible (a pending timer counts), on Postgres visible ones only.
//     timerQueue is always 0 (timers are delayed orchestrator messages).
//   - deleteInstance(id, force) deletes a root instance and all its
//     descendants, refuses a sub-orchestration ("Cannot delete
//     sub-orchestration <id> directly. Delete the root orchestration
//     instead.") and, without force, a Running instance ("Instance <id> is
//     still running. Use force=true or cancel first."). A deleted id can be
//     started again: its executions restart at 1. deleteInstanceBulk deletes
//     terminal root instances matching a filter. pruneExecutions deletes old
//     executions (never the current one) and their history.
//   - An event raised before the instance subscribes is recorded in its
//     history (ExternalEvent) but never delivered. An event raised for an
//     instance that does not exist yet waits in the queue and is recorded by
//     its first turn, ahead of the subscription.
//
// STORE.md records the stores' tables, rows and behaviour for connector
// authors.
package duroxide
