-- Version 2: a metric value is stored once per (run, key, step, timestamp,
-- value), as MLflow's metrics primary key has it, so a retried log-metric
-- or a repeat within one log-batch does not show twice in the history.
-- The key also orders the history, so the separate index goes.
DELETE FROM metrics a USING metrics b
    WHERE a.ctid < b.ctid AND a.run_uuid = b.run_uuid AND a.key = b.key AND a.step = b.step
      AND a.timestamp = b.timestamp AND a.value = b.value AND a.is_nan = b.is_nan;

ALTER TABLE metrics ADD PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan);

DROP INDEX metrics_history;
