'use strict';

// Deletions and prunes through Duroxide's client, for tests that need them
// at a chosen moment. Each answer is the client's result object verbatim.

// deleteInstances deletes each id in turn (deleting a root cascades to its
// sub-orchestrations; a Running instance needs force). A refusal is kept as
// the id's error and does not stop the others.
async function deleteInstances(client, ids, force) {
  const results = [];
  for (const id of ids) {
    try {
      results.push({ instanceId: id, result: await client.deleteInstance(id, force) });
    } catch (e) {
      results.push({ instanceId: id, error: e.message });
    }
  }
  return { force, results, failed: results.filter((r) => r.error).length };
}

// deleteBulk maps to deleteInstanceBulk: Duroxide picks terminal root
// instances matching the filter (ids, completedBefore) up to limit.
async function deleteBulk(client, filter) {
  return { filter, result: await client.deleteInstanceBulk(filter) };
}

async function prune(client, id, options) {
  return { instanceId: id, options, result: await client.pruneExecutions(id, options) };
}

async function pruneBulk(client, filter, options) {
  return { filter, options, result: await client.pruneExecutionsBulk(filter, options) };
}

module.exports = { deleteInstances, deleteBulk, prune, pruneBulk };
