'use strict';

// A driver session: the addon, an opened store, and (for the subcommands that
// execute orchestrations) a started runtime with the workloads registered.

const { loadAddon, parseStore, openStore } = require('./store');
const { Host } = require('./protocol');
const workloads = require('./workloads');

// openClient opens the store for the client-only subcommands.
async function openClient(opts) {
  const addon = loadAddon();
  const store = await openStore(addon, parseStore(opts.store, opts.schema));
  return { addon, store, client: store.newClient() };
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
  const runtime = store.newRuntime({
    dispatcherPollIntervalMs: opts.pollMs || 20,
    orchestrationConcurrency: opts.orchestrationConcurrency || 4,
    workerConcurrency: opts.workerConcurrency || 8,
    logLevel: opts.logLevel || 'error',
  });
  host.attach(runtime);
  await runtime.start();
  return {
    addon,
    store,
    runtime,
    client: store.newClient(),
    shutdown: () => runtime.shutdown(1000),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
