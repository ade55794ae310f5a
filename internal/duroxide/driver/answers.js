'use strict';

// Duroxide's own client answers, gathered for comparison with Duroscope's.
// Nothing is reshaped: each field is what the addon returned, so that a
// difference found by a test is a difference with Duroxide itself.

const STATUSES = ['Running', 'Completed', 'Failed', 'ContinuedAsNew'];

async function gatherAnswers(client, opts) {
  const allInstances = await client.listAllInstances();
  const ids = opts.all ? [...allInstances] : [];
  for (const id of opts.ids || []) {
    if (!ids.includes(id)) {
      ids.push(id);
    }
  }
  const instances = [];
  for (const id of ids) {
    instances.push(await instanceAnswers(client, id));
  }
  const byStatus = {};
  for (const s of STATUSES) {
    byStatus[s] = await client.listInstancesByStatus(s);
  }
  return {
    instances,
    allInstances,
    byStatus,
    systemMetrics: await client.getSystemMetrics(),
    queueDepths: await client.getQueueDepths(),
  };
}

// instanceAnswers: a missing instance is reported as found=false with its
// getStatus answer ("NotFound"); the other calls fail for it.
async function instanceAnswers(client, id) {
  const status = await client.getStatus(id);
  if (status.status === 'NotFound') {
    return { instanceId: id, found: false, status };
  }
  const info = await client.getInstanceInfo(id);
  const executions = [];
  for (const executionId of await client.listExecutions(id)) {
    executions.push({
      executionId,
      info: await client.getExecutionInfo(id, executionId),
      history: await client.readExecutionHistory(id, executionId),
    });
  }
  return {
    instanceId: id,
    found: true,
    status,
    info,
    executions,
    tree: await client.getInstanceTree(id),
    stats: await client.getOrchestrationStats(id),
  };
}

module.exports = { gatherAnswers, STATUSES };
