#!/usr/bin/env node
'use strict';

// Duroscope's Duroxide driver. One JSON document on stdout per run; logs and
// errors on stderr; a non-zero exit status on any unexpected error.
//
//   driver.js scenario    --store S [--schema X] [--prefix P] [--inject-lock-failure]
//   driver.js load        --store S [--schema X] --rate N (--duration D | --count C)
//                         [--prefix P] [--running-every K] [--delete-every K] [--prune] [--drain D]
//                         [--count-errors]
//   driver.js answers     --store S [--schema X] (--ids a,b,c | --all)
//   driver.js delete      --store S [--schema X] --ids a,b,c [--force]
//   driver.js delete-bulk --store S [--schema X] [--count N] [--ids a,b] [--completed-before MS]
//   driver.js prune       --store S [--schema X] --id X [--keep-last K] [--completed-before MS]
//   driver.js prune-bulk  --store S [--schema X] [--count N] [--ids a,b] [--keep-last K] [--completed-before MS]
//
// S is sqlite:/path.db or postgres://user@host:port/db; --schema selects a
// Postgres schema (created when missing). Runtime subcommands also take
// --log-file F and --log-level L for the addon's tracing (stderr, "error"),
// --orchestration-concurrency N (4) and --worker-concurrency N (8).
// Durations are "500ms", "10s", "2m" or plain seconds.
//
// The addon is $DUROSCOPE_DUROXIDE_ADDON (path of the .node file) or the npm
// package duroxide-linux-x64-gnu resolvable from here. By hand:
//
//   DUROSCOPE_DUROXIDE_ADDON=~/.cache/duroscope/npm/node_modules/duroxide-linux-x64-gnu/duroxide.linux-x64-gnu.node \
//     node internal/duroxide/driver/driver.js scenario --store sqlite:/tmp/d.db
//
// The scenario's instance ids are fixed ("<prefix>-<name>"): run it on a
// fresh store, or give each run on the same store its own --prefix.

const { openClient } = require('./session');
const { runScenario } = require('./scenario');
const { runLoad } = require('./load');
const { gatherAnswers } = require('./answers');
const admin = require('./admin');

const BOOLEAN_FLAGS = new Set(['force', 'all', 'prune', 'inject-lock-failure', 'count-errors']);

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const flags = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) {
      flags[name] = arg.slice(eq + 1);
    } else if (BOOLEAN_FLAGS.has(name)) {
      flags[name] = 'true';
    } else {
      if (i + 1 >= rest.length) {
        throw new Error(`--${name} needs a value`);
      }
      flags[name] = rest[++i];
    }
  }
  return { command, flags };
}

function parseDurationMs(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) {
    throw new Error(`bad duration ${JSON.stringify(text)}: want 500ms, 10s, 2m or seconds`);
  }
  const unit = { ms: 1, s: 1000, m: 60000 }[m[2] || 's'];
  return Number(m[1]) * unit;
}

function int(flags, name) {
  if (flags[name] === undefined) {
    return undefined;
  }
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(flags[name])}`);
  }
  return n;
}

function ids(flags) {
  return flags.ids ? flags.ids.split(',').filter((s) => s !== '') : undefined;
}

function common(flags) {
  return {
    store: flags.store,
    schema: flags.schema,
    logFile: flags['log-file'],
    logLevel: flags['log-level'],
    orchestrationConcurrency: int(flags, 'orchestration-concurrency'),
    workerConcurrency: int(flags, 'worker-concurrency'),
  };
}

function filterOf(flags) {
  const filter = {};
  if (ids(flags)) filter.instanceIds = ids(flags);
  if (flags['completed-before'] !== undefined) filter.completedBefore = int(flags, 'completed-before');
  if (flags.count !== undefined) filter.limit = int(flags, 'count');
  return filter;
}

function pruneOptions(flags) {
  const options = {};
  if (flags['keep-last'] !== undefined) options.keepLast = int(flags, 'keep-last');
  if (flags['completed-before'] !== undefined) options.completedBefore = int(flags, 'completed-before');
  if (Object.keys(options).length === 0) {
    throw new Error('prune needs --keep-last and/or --completed-before');
  }
  return options;
}

// withClient runs fn with a client-only session.
async function withClient(flags, fn) {
  const { client } = await openClient(common(flags));
  return fn(client);
}

const COMMANDS = {
  scenario: (flags) => runScenario({ ...common(flags), prefix: flags.prefix, injectLockFailure: flags['inject-lock-failure'] === 'true' }),
  load: (flags) => runLoad({
    ...common(flags),
    prefix: flags.prefix,
    rate: flags.rate === undefined ? undefined : Number(flags.rate),
    durationMs: flags.duration === undefined ? undefined : parseDurationMs(flags.duration),
    count: int(flags, 'count'),
    runningEvery: int(flags, 'running-every'),
    deleteEvery: int(flags, 'delete-every'),
    prune: flags.prune === 'true',
    drainMs: flags.drain === undefined ? undefined : parseDurationMs(flags.drain),
    countErrors: flags['count-errors'] === 'true',
  }),
  answers: (flags) => {
    if (!ids(flags) && flags.all !== 'true') {
      throw new Error('answers needs --ids and/or --all');
    }
    return withClient(flags, (c) => gatherAnswers(c, { ids: ids(flags), all: flags.all === 'true' }));
  },
  delete: (flags) => {
    if (!ids(flags)) {
      throw new Error('delete needs --ids');
    }
    return withClient(flags, (c) => admin.deleteInstances(c, ids(flags), flags.force === 'true'));
  },
  'delete-bulk': (flags) => withClient(flags, (c) => admin.deleteBulk(c, filterOf(flags))),
  prune: (flags) => {
    if (!flags.id) {
      throw new Error('prune needs --id');
    }
    return withClient(flags, (c) => admin.prune(c, flags.id, pruneOptions(flags)));
  },
  'prune-bulk': (flags) => withClient(flags, (c) => admin.pruneBulk(c, filterOf(flags), pruneOptions(flags))),
};

// failedResult names answers that completed but report a failure.
function failedResult(command, result, flags) {
  if (command === 'delete' && result.failed > 0) {
    return `${result.failed} deletion(s) refused`;
  }
  if (command === 'load' && flags['count-errors'] !== 'true' && (result.unexpected.length > 0 || result.unfinished.length > 0)) {
    return `${result.unexpected.length} instance(s) ended unexpectedly, ${result.unfinished.length} unfinished`;
  }
  return '';
}

async function main() {
  const { command, flags } = parseArgs(process.argv.slice(2));
  const run = COMMANDS[command];
  if (!run) {
    throw new Error(`unknown subcommand ${JSON.stringify(command)}; want one of ${Object.keys(COMMANDS).join(', ')}`);
  }
  const result = await run(flags);
  await new Promise((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, resolve));
  const failure = failedResult(command, result, flags);
  if (failure) {
    throw new Error(failure);
  }
}

// The addon keeps native handles alive: exit explicitly once the answer is out.
main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`driver: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
