-- mlship tracking schema, version 1 (SQLite).
-- Tables looked up by a text key (runs by run id, params/tags/metrics by
-- run and key) are WITHOUT ROWID: one b-tree search per lookup instead of
-- two, which is most of the cost of a filtered search.
CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    artifact_location TEXT    NOT NULL,
    lifecycle_stage   TEXT    NOT NULL,
    creation_time     INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL
);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;

CREATE TABLE runs (
    run_uuid        TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
    user_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER,
    lifecycle_stage TEXT    NOT NULL,
    artifact_uri    TEXT    NOT NULL,
    deleted_time    INTEGER
) WITHOUT ROWID;
-- The default search order within an experiment, for any view type
-- (lifecycle_stage rides along so the index covers the view filter).
CREATE INDEX runs_experiment_start ON runs (experiment_id, start_time DESC, run_uuid, lifecycle_stage);

CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
-- Filters like params.model = 'x' start from the key and value.
CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX tags_key_value ON tags (key, value);

-- Every logged value. NaN is stored as value 0 with is_nan = 1 because
-- SQLite turns a NaN REAL into NULL.
CREATE TABLE metrics (
    run_uuid       TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT    NOT NULL,
    value          REAL    NOT NULL,
    is_nan         INTEGER NOT NULL,
    timestamp      INTEGER NOT NULL,
    step           INTEGER NOT NULL,
    dataset_name   TEXT    NOT NULL DEFAULT '',
    dataset_digest TEXT    NOT NULL DEFAULT '',
    model_id       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX metrics_history ON metrics (run_uuid, key, step, timestamp);

-- The latest value per (run, key) by MLflow's rule (step, timestamp, value),
-- kept in the same transaction as the history.
CREATE TABLE latest_metrics (
    run_uuid  TEXT    NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    value     REAL    NOT NULL,
    is_nan    INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    dataset_uuid  TEXT    NOT NULL PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
    name          TEXT    NOT NULL,
    digest        TEXT    NOT NULL,
    source_type   TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    schema        TEXT    NOT NULL,
    profile       TEXT    NOT NULL,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE inputs (
    input_uuid   TEXT NOT NULL PRIMARY KEY,
    dataset_uuid TEXT NOT NULL REFERENCES datasets (dataset_uuid),
    run_uuid     TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    UNIQUE (run_uuid, dataset_uuid)
);

CREATE TABLE input_tags (
    input_uuid TEXT NOT NULL REFERENCES inputs (input_uuid) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (input_uuid, key)
) WITHOUT ROWID;
