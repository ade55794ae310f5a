'use strict';

// The orchestrations and activities that the scenario and the load run.
// Orchestration code is deterministic (replayed every turn): time and ids
// come only from the utcNow/newGuid system calls.

const EVENT_NAME = 'approval';

function register(host) {
  const flakyAttempts = new Map();

  host.activity('Echo', async (_info, input) => ({ echo: input }));

  // Flaky fails its first `failures` attempts for a given key, then succeeds.
  // Attempts are counted in this process: activities are not replayed.
  host.activity('Flaky', async (_info, input) => {
    const n = (flakyAttempts.get(input.key) || 0) + 1;
    flakyAttempts.set(input.key, n);
    if (n <= input.failures) {
      throw new Error(`flaky attempt ${n} of ${input.key} failed on purpose`);
    }
    return { key: input.key, attempts: n };
  });

  host.activity('Broken', async (_info, input) => {
    throw new Error(`broken on purpose: ${JSON.stringify(input)}`);
  });

  host.activity('Work', async (_info, input) => {
    if (input && input.sleepMs) {
      await new Promise((resolve) => setTimeout(resolve, input.sleepMs));
    }
    return { done: input && input.item };
  });

  // Activities: a completed activity, system calls, a retried activity that
  // recovers, a failed activity that is caught, a timer, custom status.
  host.orchestration('Activities', function* (ctx, input) {
    ctx.setCustomStatus({ phase: 'echo' });
    const echoed = yield ctx.activity('Echo', input);
    const now = yield ctx.utcNow();
    const guid = yield ctx.newGuid();
    ctx.setCustomStatus({ phase: 'retry' });
    const flaky = yield ctx.activityWithRetry(
      'Flaky',
      { key: `${ctx.instanceId}/${ctx.executionId}`, failures: 2 },
      { maxAttempts: 4, backoff: 'linear' },
    );
    let caught = null;
    try {
      yield ctx.activity('Broken', { from: ctx.instanceId });
    } catch (e) {
      caught = e.message;
    }
    yield ctx.timer(50);
    ctx.setCustomStatus({ phase: 'done' });
    return { echoed, nowIsNumber: typeof now === 'number', guidIsString: typeof guid === 'string', flaky, caught };
  });

  // RetryExhausted: every attempt fails and the failure is not caught.
  host.orchestration('RetryExhausted', function* (ctx) {
    return yield ctx.activityWithRetry('Broken', { from: ctx.instanceId }, { maxAttempts: 2, backoff: 'linear' });
  });

  host.orchestration('Timer', function* (ctx, input) {
    yield ctx.timer(input.delayMs);
    return { slept: input.delayMs };
  });

  host.orchestration('AwaitEvent', function* (ctx) {
    ctx.setCustomStatus('waiting for approval');
    const data = yield ctx.waitEvent(EVENT_NAME);
    ctx.setCustomStatus('approved');
    return { approval: data };
  });

  host.orchestration('FanOut', function* (ctx, input) {
    const tasks = [];
    for (let i = 0; i < input.width; i++) {
      tasks.push(ctx.activity('Work', { item: i, sleepMs: input.sleepMs || 0 }));
    }
    const results = yield ctx.all(tasks);
    return { results: results.length };
  });

  host.orchestration('Child', function* (ctx, input) {
    const out = yield ctx.activity('Echo', input);
    if (input.fail) {
      throw new Error(`child ${ctx.instanceId} failed on purpose`);
    }
    return out;
  });

  // Parent runs one child that completes and one that fails; catchFailure
  // decides whether the child's failure fails the parent.
  host.orchestration('Parent', function* (ctx, input) {
    const ok = yield ctx.subOrchestration('Child', `${ctx.instanceId}-ok`, { fail: false });
    let childError = null;
    try {
      yield ctx.subOrchestration('Child', `${ctx.instanceId}-bad`, { fail: true });
    } catch (e) {
      if (!input.catchFailure) {
        throw e;
      }
      childError = e.message;
    }
    return { ok, childError };
  });

  // Loop continues as new until iteration `last`, each execution with an
  // activity, a timer and its own custom status.
  host.orchestration('Loop', function* (ctx, input) {
    ctx.setCustomStatus({ iteration: input.n });
    yield ctx.activity('Echo', { n: input.n });
    if (input.n >= input.last) {
      return { iterations: input.n };
    }
    yield ctx.timer(10);
    return yield ctx.continueAsNew({ n: input.n + 1, last: input.last });
  });

  host.orchestration('Fail', function* (ctx) {
    yield ctx.activity('Echo', { before: 'failure' });
    throw new Error(`uncaught failure in ${ctx.instanceId}`);
  });

  // Drifting breaks determinism on purpose: its first turn schedules an
  // activity, its replay a timer, which Duroxide fails as a configuration
  // error (Nondeterminism).
  const driftingTurns = new Map();
  host.orchestration('Drifting', function* (ctx) {
    const turn = (driftingTurns.get(ctx.instanceId) || 0) + 1;
    driftingTurns.set(ctx.instanceId, turn);
    if (turn === 1) {
      yield ctx.activity('Echo', { turn });
    } else {
      yield ctx.timer(10);
    }
    return { turn };
  });

  // Spawner starts an independent (detached, root) orchestration.
  host.orchestration('Spawner', function* (ctx, input) {
    yield ctx.startDetached('Timer', input.spawnId, { delayMs: 10 });
    return { spawned: input.spawnId };
  });
}

module.exports = { register, EVENT_NAME };
