'use strict';

// A driver session: the addon, an opened store, and (for the subcommands that
// execute orchestrations) a started runtime with the workloads registered.

const { loadAddon, parseStore, openStore } = require('./store');
const { Host } = require('./protocol');
const workloads = require('./workloads');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// SQLite allows one writer: a client call racing the runtime's dispatchers
// can fail with "database is locked" (Duroxide's own dispatchers retry
// those too). Client calls are retried on that error only; any other error
// (a refusal, a missing instance) is returned at once. About a minute in
// all: with the test suite's other packages beside it on two cores, seven
// seconds (40 tries) ran out.
const BUSY_RETRIES = 320;
const BUSY_BACKOFF_MS = 25;

function isBusy(e) {
  return /database is locked/.test(e && e.message);
}

function retryingClient(client) {
  return new Proxy(client, {
    get(target, name) {
      const value = target[name];
      if (typeof value !== 'function') {
        return value;
      }
      return async (...args) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await value.apply(target, args);
          } catch (e) {
            if (!isBusy(e) || attempt >= BUSY_RETRIES) {
              throw e;
            }
            await sleep(BUSY_BACKOFF_MS * Math.min(attempt, 8));
          }
        }
      };
    },
  });
}

// openClient opens the store for the client-only subcommands.
async function openClient(opts) {
  const addon = loadAddon();
  const store = await openStore(addon, parseStore(opts.store, opts.schema));
  return { addon, store, client: retryingClient(store.newClient()) };
}

// startRuntime opens the store, registers the workloads and starts a runtime.
// Rust tracing goes to opts.logFile (stderr by default): the addon would
// otherwise print it on stdout, which carries the driver's JSON answer.
async function startRuntime(opts) {
  const addon = loadAddon();
  addon.initTracing({ logFile: opts.logFile || '/dev/stderr', logLevel: opts.logLevel || 'error' });
  const store = await openStore(addon, parseStore(opts.store, opts.schema));
  const host = new Host(addon);
  workloads.register(host);
  // SQLite has one writer: fewer dispatchers contend less for its lock, and
  // Duroxide 0.1.29 turns an acknowledgement that hits "database is locked"
  // into an Infrastructure failure of the orchestration (STORE.md).
  const sqlite = store.kind === 'sqlite';
  const runtime = store.newRuntime({
    dispatcherPollIntervalMs: opts.pollMs || 20,
    orchestrationConcurrency: opts.orchestrationConcurrency || (sqlite ? 2 : 4),
    workerConcurrency: opts.workerConcurrency || (sqlite ? 4 : 8),
    logLevel: opts.logLevel || 'error',
  });
  host.attach(runtime);
  await runtime.start();
  return {
    addon,
    store,
    runtime,
    client: retryingClient(store.newClient()),
    shutdown: () => runtime.shutdown(1000),
  };
}


// waitForHistory polls the current execution's history until an event of
// the given kind is there, so that a Running instance is known to be parked
// where the caller expects (subscribed to an event, timer created).
async function waitForHistory(client, instanceId, kind, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.getStatus(instanceId);
    if (status.status !== 'NotFound') {
      const info = await client.getInstanceInfo(instanceId);
      const events = await client.readExecutionHistory(instanceId, info.currentExecutionId);
      if (events.some((e) => e.kind === kind)) {
        return;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`${instanceId}: no ${kind} in its history after ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}

module.exports = { openClient, startRuntime, waitForHistory, sleep };
