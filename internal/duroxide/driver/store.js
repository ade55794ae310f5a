'use strict';

// Loading the native addon and opening a Duroxide store through it.
//
// The addon is found, in order, at $DUROSCOPE_DUROXIDE_ADDON (a path to the
// .node file, set by the Go package internal/duroxide), or as the npm package
// duroxide-linux-x64-gnu resolved from this directory or $NODE_PATH.

function loadAddon() {
  const explicit = process.env.DUROSCOPE_DUROXIDE_ADDON;
  if (explicit) {
    return require(explicit);
  }
  return require('duroxide-linux-x64-gnu');
}

// parseStore turns the --store/--schema flags into a store description.
// "sqlite:/path.db" (or "sqlite::memory:") and "postgres://..." or
// "postgresql://..." are accepted; a schema only makes sense for Postgres.
function parseStore(store, schema) {
  if (!store) {
    throw new Error('--store is required (sqlite:/path.db or postgres://...)');
  }
  if (store.startsWith('sqlite:')) {
    if (schema) {
      throw new Error('--schema applies to a Postgres store only');
    }
    return { kind: 'sqlite', url: store };
  }
  if (store.startsWith('postgres://') || store.startsWith('postgresql://')) {
    return { kind: 'postgres', url: store, schema: schema || '' };
  }
  throw new Error(`unsupported --store ${JSON.stringify(store)}: want sqlite:/path.db or postgres://...`);
}

// openStore connects the provider and returns the native provider plus
// factories for a client and a runtime bound to it. Opening a store creates
// Duroxide's tables (and, for Postgres, its schema and procedures) when
// they are missing.
async function openStore(addon, desc) {
  if (desc.kind === 'sqlite') {
    const provider = await addon.JsSqliteProvider.open(desc.url);
    return {
      kind: desc.kind,
      newClient: () => new addon.JsClient(provider),
      newRuntime: (options) => new addon.JsRuntime(provider, options),
    };
  }
  const provider = desc.schema
    ? await addon.JsPostgresProvider.connectWithSchema(desc.url, desc.schema)
    : await addon.JsPostgresProvider.connect(desc.url);
  return {
    kind: desc.kind,
    newClient: () => addon.JsClient.fromPostgres(provider),
    newRuntime: (options) => addon.JsRuntime.fromPostgres(provider, options),
  };
}

module.exports = { loadAddon, parseStore, openStore };
