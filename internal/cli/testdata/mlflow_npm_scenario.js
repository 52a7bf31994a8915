// A tracking scenario driven by the npm package `mlflow` (a Node.js client
// of MLflow's REST API 2.0), run by TestNPMMLflowClient against `mlship
// server`. The server is MLFLOW_TRACKING_URI; what the client saw is
// written as JSON to SCENARIO_OUT (the package logs every request body on
// stdout, so stdout is not ours). The Go test then checks the store.
"use strict";
const fs = require("fs");
const MLflow = require("mlflow");

const client = new MLflow({ endpoint: process.env.MLFLOW_TRACKING_URI });
const { Experiments, Runs, Metrics, Artifacts } = client;

// The package throws Error("Error: {status, statusText, data}").
function apiError(e) {
  const m = String(e && e.message);
  const i = m.indexOf("{");
  if (i < 0) throw e;
  return JSON.parse(m.slice(i));
}

async function rejected(p) {
  try {
    await p;
  } catch (e) {
    return apiError(e);
  }
  return null;
}

(async () => {
  const out = {};
  const t0 = 1700000000000;

  const { experiment_id } = await Experiments.create({ name: "npm-scenario" });
  out.experiment_id = experiment_id;
  out.duplicate = await rejected(Experiments.create({ name: "npm-scenario" }));
  const { experiment } = await Experiments.get({ experiment_id });
  out.experiment = experiment;

  const { run } = await Runs.create({
    experiment_id,
    user_id: "npm-user",
    start_time: t0,
    tags: [
      { key: "mlflow.runName", value: "npm-run" },
      { key: "mlflow.source.type", value: "LOCAL" },
    ],
  });
  const run_id = run.info.run_id;
  out.run_id = run_id;
  out.created = run.info;

  await Runs.logParameter({ run_id, key: "alpha", value: "0.5" });
  await Runs.logParameter({ run_id, key: "alpha", value: "0.5" }); // same value: fine
  out.param_change = await rejected(Runs.logParameter({ run_id, key: "alpha", value: "0.6" }));
  for (let step = 0; step < 5; step++) {
    await Runs.logMetric({ run_id, key: "loss", value: 1 / (step + 1), timestamp: t0 + step, step });
  }
  await Runs.logBatch({
    run_id,
    metrics: [
      { key: "acc", value: 0.7, timestamp: t0 + 10, step: 1 },
      { key: "acc", value: 0.9, timestamp: t0 + 11, step: 2 },
    ],
    params: [{ key: "layers", value: "3" }],
    tags: [{ key: "stage", value: "dev" }],
  });
  await Runs.setTag({ run_id, key: "note", value: "from npm" });
  await Runs.setTag({ run_id, key: "tmp", value: "x" });
  await Runs.deleteTag({ run_id, key: "tmp" });

  // A second run the filter must leave out, and a third that is deleted.
  const other = (await Runs.create({ experiment_id, start_time: t0 + 1, tags: [{ key: "mlflow.runName", value: "other" }] })).run;
  await Runs.logMetric({ run_id: other.info.run_id, key: "acc", value: 0.1, timestamp: t0, step: 0 });
  await Runs.logParameter({ run_id: other.info.run_id, key: "alpha", value: "0.5" });
  const gone = (await Runs.create({ experiment_id, start_time: t0 + 2 })).run;
  await Runs.delete({ run_id: gone.info.run_id });
  out.other_id = other.info.run_id;
  out.gone_id = gone.info.run_id;

  const found = await Runs.search({
    experiment_ids: [experiment_id],
    filter: "metrics.acc > 0.5 and params.alpha = '0.5' and tags.stage = 'dev'",
    run_view_type: "ACTIVE_ONLY",
    max_results: 10,
    order_by: ["start_time DESC"],
  });
  out.search_ids = (found.runs || []).map((r) => r.info.run_id);
  const all = await Runs.search({ experiment_ids: [experiment_id], run_view_type: "ALL", order_by: ["start_time ASC"] });
  out.all_ids = (all.runs || []).map((r) => r.info.run_id);
  const paged = await Runs.search({ experiment_ids: [experiment_id], max_results: 1 });
  out.page1 = (paged.runs || []).length;
  out.page_token = paged.next_page_token || "";
  out.bad_filter = await rejected(Runs.search({ experiment_ids: [experiment_id], filter: "metrics.acc > 0.5 or params.alpha = '1'" }));

  const hist = await Metrics.getHistory({ run_id, metric_key: "loss" });
  out.loss_history = hist.metrics;
  out.artifacts = await Artifacts.list({ run_id });

  const updated = await Runs.update({ run_id, status: "FINISHED", end_time: t0 + 60000 });
  out.updated = updated.run_info;
  await Experiments.update({ experiment_id, new_name: "npm-scenario-renamed" });
  out.final = (await Runs.get({ run_id })).run;
  out.missing = await rejected(Runs.get({ run_id: "0123456789abcdef0123456789abcdef" }));

  fs.writeFileSync(process.env.SCENARIO_OUT, JSON.stringify(out, null, 2));
})().catch((e) => {
  process.stderr.write("scenario failed: " + (e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
