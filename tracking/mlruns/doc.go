// Package mlruns reads MLflow's file store — the ./mlruns directory that
// mlflow wrote by default until late 2025 (MLFLOW_COMPAT.md §7.4) — and
// imports it into any tracking.Store: experiments (with their tags, and
// the deleted ones in .trash), runs with their ids, names, users,
// statuses, times, lifecycle stages and artifact URIs, params, tags
// (system tags included) and every logged metric value.
//
// Import writes through the optional Importer capability when the store
// has it (tracking/sqlstore does), which keeps run ids, times and artifact
// URIs; through the ordinary tracking.Store API otherwise. Either way a
// second import of the same tree duplicates nothing.
package mlruns
