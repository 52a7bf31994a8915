-- Version 2: a metric value is stored once per (run, key, step, timestamp,
-- value), as MLflow's metrics primary key has it, so a retried log-metric
-- or a repeat within one log-batch does not show twice in the history.
-- The key also orders the history, so the separate index goes.
CREATE TABLE metrics_v2 (
    run_uuid       TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    step           INTEGER NOT NULL,
    dataset_name   TEXT    NOT NULL DEFAULT '',
    dataset_digest TEXT    NOT NULL DEFAULT '',
    model_id       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;

INSERT OR IGNORE INTO metrics_v2
    (run_uuid, key, value, is_nan, timestamp, step, dataset_name, dataset_digest, model_id)
    SELECT run_uuid, key, value, is_nan, timestamp, step, dataset_name, dataset_digest, model_id FROM metrics;

DROP TABLE metrics;

ALTER TABLE metrics_v2 RENAME TO metrics;
