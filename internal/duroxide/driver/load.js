'use strict';

// The load: a continuous, realistic mix of the scenario's orchestrations,
// started at a steady rate until a duration or a count is reached, then
// drained. Instance ids are "<prefix>-<seq>-<kind>". External events are
// raised once the instance has subscribed (Duroxide records an event raised
// before the subscription but never delivers it). Optional churn deletes finished roots and prunes
// continued-as-new instances while the load runs, as an operator would.
//
// With countErrors (--count-errors, for measuring Duroxide under contention)
// a client call that fails even after the busy retries is recorded in
// clientErrors instead of ending the run, and the run's outcome (unexpected,
// unfinished) is reported without a failing exit status.

const { startRuntime, sleep, waitForHistory } = require('./session');
const { EVENT_NAME } = require('./workloads');

// The mix, cycled in order: mostly short successful work, some failures.
const MIX = [
  { kind: 'activities', orchestration: 'Activities', input: (id) => ({ id }), status: 'Completed' },
  { kind: 'fan_out', orchestration: 'FanOut', input: () => ({ width: 4, sleepMs: 5 }), status: 'Completed' },
  { kind: 'timer', orchestration: 'Timer', input: () => ({ delayMs: 200 }), status: 'Completed' },
  { kind: 'event', orchestration: 'AwaitEvent', input: () => null, status: 'Completed', raise: true },
  { kind: 'parent', orchestration: 'Parent', input: () => ({ catchFailure: true }), status: 'Completed' },
  { kind: 'fan_out', orchestration: 'FanOut', input: () => ({ width: 2 }), status: 'Completed' },
  { kind: 'continue_as_new', orchestration: 'Loop', input: () => ({ n: 1, last: 3 }), status: 'Completed' },
  { kind: 'timer', orchestration: 'Timer', input: () => ({ delayMs: 50 }), status: 'Completed' },
  { kind: 'activities', orchestration: 'Activities', input: (id) => ({ id }), status: 'Completed' },
  { kind: 'event', orchestration: 'AwaitEvent', input: () => null, status: 'Completed', raise: true },
  { kind: 'failed', orchestration: 'Fail', input: () => null, status: 'Failed' },
  { kind: 'parent_failed', orchestration: 'Parent', input: () => ({ catchFailure: false }), status: 'Failed' },
  { kind: 'retry_exhausted', orchestration: 'RetryExhausted', input: () => null, status: 'Failed' },
];
const LEFT_RUNNING = { kind: 'running_event', orchestration: 'AwaitEvent', input: () => null, status: 'Running' };

const CHECK_BATCH = 50;
const START_CONCURRENCY = 16;

async function runLoad(opts) {
  if (!(opts.rate > 0)) {
    throw new Error('load needs --rate > 0 (instances per second)');
  }
  if (!(opts.durationMs > 0) && !(opts.count > 0)) {
    throw new Error('load needs --duration or --count');
  }
  const prefix = opts.prefix || 'load';
  const runningEvery = opts.runningEvery === undefined ? 50 : opts.runningEvery;
  const drainMs = opts.drainMs || 60000;
  const session = await startRuntime(opts);
  const { client } = session;
  const out = {
    prefix, store: session.store.kind, started: 0, byKind: {}, completed: 0, failed: 0,
    leftRunning: 0, unfinished: [], unexpected: [], infrastructureFailed: [], clientErrors: [], deleted: 0, pruned: 0,
  };
  // call runs one client call; in countErrors mode a failure is recorded
  // and answered with undefined instead of thrown.
  const call = async (op, id, fn) => {
    try {
      return await fn();
    } catch (e) {
      if (!opts.countErrors) {
        throw e;
      }
      out.clientErrors.push({ op, instanceId: id, error: String(e && e.message ? e.message : e) });
      return undefined;
    }
  };
  const pending = new Map(); // id -> spec, awaiting a terminal status
  const toRaise = new Set();
  let finishedRoots = 0;
  const began = Date.now();

  const check = async () => {
    for (const id of [...toRaise].slice(0, CHECK_BATCH)) {
      const events = await call('readExecutionHistory', id, () => client.readExecutionHistory(id, 1));
      if (events && events.some((e) => e.kind === 'ExternalSubscribed')) {
        await call('raiseEvent', id, () => client.raiseEvent(id, EVENT_NAME, JSON.stringify({ by: 'load' })));
        toRaise.delete(id);
      }
    }
    for (const [id, spec] of [...pending].slice(0, CHECK_BATCH)) {
      const st = await call('getStatus', id, () => client.getStatus(id));
      if (st === undefined) {
        continue; // recorded; looked at again on a later check
      }
      // NotFound: started but not yet picked up (the instance row is written
      // by the first orchestration turn).
      if (st.status === 'Running' || st.status === 'NotFound') {
        pending.delete(id); // to the back: each check looks at others first
        pending.set(id, spec);
        continue;
      }
      pending.delete(id);
      if (st.status === 'Failed' && spec.status !== 'Failed' && /^infrastructure:/.test(st.error || '')) {
        // Duroxide itself failed the instance (on SQLite: "database is
        // locked" under contention). Real behaviour, reported apart.
        out.infrastructureFailed.push({ instanceId: id, error: st.error });
        continue;
      }
      if (st.status !== spec.status) {
        out.unexpected.push({ instanceId: id, status: st.status, want: spec.status, error: st.error });
        continue;
      }
      out[st.status === 'Completed' ? 'completed' : 'failed']++;
      if (spec.kind === 'continue_as_new' && opts.prune) {
        const r = await call('pruneExecutions', id, () => client.pruneExecutions(id, { keepLast: 1 }));
        out.pruned += r ? r.executionsDeleted : 0;
      }
      finishedRoots++;
      if (opts.deleteEvery > 0 && finishedRoots % opts.deleteEvery === 0) {
        const r = await call('deleteInstance', id, () => client.deleteInstance(id, false));
        out.deleted += r ? r.instancesDeleted : 0;
      }
    }
  };

  // The starter paces starts (up to START_CONCURRENCY in flight, so that a
  // slow start does not lower the rate); the checker raises events and
  // collects outcomes meanwhile, then drains.
  const starter = async () => {
    const target = () => {
      const byRate = Math.floor(((Date.now() - began) / 1000) * opts.rate) + 1;
      return opts.count > 0 ? Math.min(byRate, opts.count) : byRate;
    };
    const done = () => (opts.count > 0 ? issued >= opts.count : Date.now() - began >= opts.durationMs);
    const inFlight = new Set();
    let issued = 0;
    while (!done()) {
      while (issued < target() && !done() && inFlight.size < START_CONCURRENCY) {
        issued++;
        const spec = runningEvery > 0 && issued % runningEvery === 0 ? LEFT_RUNNING : MIX[(issued - 1) % MIX.length];
        const id = `${prefix}-${issued}-${spec.kind}`;
        const p = call('startOrchestration', id, () => client.startOrchestration(id, spec.orchestration, JSON.stringify(spec.input(id))).then(() => true)).then((ok) => {
          if (!ok) {
            return;
          }
          out.started++;
          out.byKind[spec.kind] = (out.byKind[spec.kind] || 0) + 1;
          if (spec.status === 'Running') {
            out.leftRunning++;
            leftRunningIds.push(id);
          } else {
            pending.set(id, spec);
          }
          if (spec.raise) {
            toRaise.add(id);
          }
        });
        inFlight.add(p);
        p.finally(() => inFlight.delete(p)).catch(() => {});
      }
      if (inFlight.size >= START_CONCURRENCY) {
        await Promise.race(inFlight);
      } else {
        await sleep(5);
      }
    }
    await Promise.all(inFlight);
    out.startSeconds = (Date.now() - began) / 1000;
  };

  const leftRunningIds = [];
  let starting = true;
  const checker = async () => {
    while (starting) {
      await check();
      await sleep(200);
    }
    const drainDeadline = Date.now() + drainMs;
    while ((pending.size > 0 || toRaise.size > 0) && Date.now() < drainDeadline) {
      await check();
      await sleep(50);
    }
  };

  try {
    const checking = checker();
    try {
      await starter();
    } finally {
      starting = false;
    }
    await checking;
    out.unfinished = [...pending.keys()];
    // An instance left running counts once its first execution has started:
    // until the runtime picks it up, Duroxide lists it as Pending, not Running.
    for (const id of leftRunningIds) {
      await waitForHistory(client, id, 'OrchestrationStarted', drainMs);
    }
  } finally {
    await session.shutdown();
  }
  out.elapsedMs = Date.now() - began;
  out.startRatePerSec = out.started / out.startSeconds;
  return out;
}

module.exports = { runLoad };
