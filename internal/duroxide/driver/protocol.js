'use strict';

// The addon's orchestration protocol, implemented for Duroscope's driver.
//
// The native runtime never runs JavaScript orchestration code itself. It asks
// three JavaScript functions, given once through
// JsRuntime.setGeneratorDriver(create, next, dispose), to drive generators:
//
//   create(payload)  payload = JSON {ctxInfo: {instanceId, executionId,
//                    orchestrationName, orchestrationVersion}, input: string}
//   next(payload)    payload = JSON {generatorId, result: string, isError}
//   dispose(id)      id = the generator id as a decimal string
//
// create and next must answer synchronously with a JSON "step":
//
//   {status: "yielded", generatorId, task}   run task, then call next
//   {status: "completed", output: string}    the execution completed
//   {status: "error", message: string}       the execution failed
//
// A task is a plain descriptor that Rust executes with its durable context
// (replayed from history or executed for real); the generator cannot tell
// the difference. Every turn of an orchestration replays the generator from
// the start, so orchestration code must be deterministic and must take time
// and randomness only from tasks (utcNow, newGuid). Task results come back as
// strings: activity/sub-orchestration outputs verbatim, utcNow as decimal
// milliseconds, newGuid as a JSON string, timers as "null", join as a JSON
// array of {ok}|{err}. A failed task comes back with isError=true and its
// error text, which this module throws into the generator as a TaskFailed.
//
// Activities are registered one by one with a callback that receives
// "<ctxInfo JSON>\n<input>" and returns a Promise of the output string; a
// rejected promise is an activity failure.
//
// Values crossing the boundary are JSON texts: inputs are JSON.stringify'd
// here and outputs JSON.parse'd when they parse (raw strings otherwise).

class TaskFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'TaskFailed';
  }
}

function encodeJSON(value) {
  return JSON.stringify(value === undefined ? null : value);
}

function decodeJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// Context is what an orchestration generator receives. Scheduling methods
// return task descriptors to be yielded; custom status is set immediately
// through the addon (the Rust context is registered while a step runs).
class Context {
  constructor(addon, ctxInfo) {
    this.addon = addon;
    this.instanceId = ctxInfo.instanceId;
    this.executionId = ctxInfo.executionId;
    this.orchestrationName = ctxInfo.orchestrationName;
    this.orchestrationVersion = ctxInfo.orchestrationVersion;
  }

  activity(name, input) {
    return { type: 'activity', name, input: encodeJSON(input) };
  }

  // retry: {maxAttempts, timeoutMs?, totalTimeoutMs?, backoff?: "linear"|"exponential"|"fixed"}
  activityWithRetry(name, input, retry) {
    return { type: 'activityWithRetry', name, input: encodeJSON(input), retry };
  }

  timer(delayMs) {
    return { type: 'timer', delayMs };
  }

  waitEvent(name) {
    return { type: 'waitEvent', name };
  }

  subOrchestration(name, instanceId, input) {
    return { type: 'subOrchestrationWithId', name, instanceId, input: encodeJSON(input) };
  }

  // startDetached starts an independent (root) orchestration; it completes at once.
  startDetached(name, instanceId, input) {
    return { type: 'orchestration', name, instanceId, input: encodeJSON(input) };
  }

  continueAsNew(input) {
    return { type: 'continueAsNew', input: encodeJSON(input) };
  }

  utcNow() {
    return { type: 'utcNow' };
  }

  newGuid() {
    return { type: 'newGuid' };
  }

  all(tasks) {
    return { type: 'join', tasks };
  }

  setCustomStatus(status) {
    this.addon.orchestrationSetCustomStatus(this.instanceId, typeof status === 'string' ? status : encodeJSON(status));
  }
}

// Host holds the orchestrations and activities of one driver process and
// wires them into runtimes.
class Host {
  constructor(addon) {
    this.addon = addon;
    this.orchestrations = new Map();
    this.activities = new Map();
    this.generators = new Map();
    this.nextGeneratorId = 1;
  }

  // orchestration registers fn(ctx, input) as a generator function.
  orchestration(name, fn) {
    this.orchestrations.set(name, fn);
  }

  // activity registers fn(info, input) as an async function; info carries
  // instanceId, executionId, activityName, workerId, ...
  activity(name, fn) {
    this.activities.set(name, fn);
  }

  attach(runtime) {
    runtime.setGeneratorDriver(
      (payload) => this.create(payload),
      (payload) => this.next(payload),
      (id) => this.dispose(id),
    );
    for (const [name, fn] of this.activities) {
      runtime.registerActivity(name, (payload) => runActivity(fn, payload));
    }
    for (const name of this.orchestrations.keys()) {
      runtime.registerOrchestration(name);
    }
  }

  create(payload) {
    try {
      const { ctxInfo, input } = JSON.parse(payload);
      const fn = this.orchestrations.get(ctxInfo.orchestrationName);
      if (!fn) {
        return failedStep(`orchestration ${ctxInfo.orchestrationName} is not registered in the driver`);
      }
      const gen = fn(new Context(this.addon, ctxInfo), input ? decodeJSON(input) : undefined);
      const id = this.nextGeneratorId++;
      this.generators.set(id, gen);
      return this.step(id, () => gen.next());
    } catch (e) {
      return failedStep(messageOf(e));
    }
  }

  next(payload) {
    let parsed;
    try {
      parsed = JSON.parse(payload);
    } catch (e) {
      return failedStep(`undecodable next payload: ${messageOf(e)}`);
    }
    const { generatorId, result, isError } = parsed;
    const gen = this.generators.get(generatorId);
    if (!gen) {
      return failedStep(`generator ${generatorId} is unknown`);
    }
    if (isError) {
      return this.step(generatorId, () => gen.throw(new TaskFailed(String(result))));
    }
    return this.step(generatorId, () => gen.next(decodeJSON(result)));
  }

  dispose(id) {
    this.generators.delete(Number.parseInt(id, 10));
    return 'ok';
  }

  step(id, advance) {
    let r;
    try {
      r = advance();
    } catch (e) {
      this.generators.delete(id);
      return failedStep(messageOf(e));
    }
    if (r.done) {
      this.generators.delete(id);
      return JSON.stringify({ status: 'completed', output: encodeJSON(r.value) });
    }
    return JSON.stringify({ status: 'yielded', generatorId: id, task: r.value });
  }
}

async function runActivity(fn, payload) {
  const nl = payload.indexOf('\n');
  const info = JSON.parse(payload.slice(0, nl));
  const output = await fn(info, decodeJSON(payload.slice(nl + 1)));
  return encodeJSON(output);
}

function failedStep(message) {
  return JSON.stringify({ status: 'error', message });
}

function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

module.exports = { Host, TaskFailed };
