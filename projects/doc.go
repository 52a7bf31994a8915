// Package projects runs MLflow projects: an MLproject directory or a git
// repository, an entry point with typed parameters, in a local, virtualenv,
// uv, conda or docker environment, recorded as a tracking run
// (MLFLOW_COMPAT.md §6). It is what `mlship run` calls.
//
// Run validates everything it can before it records anything: the
// parameters (projects/mlproject), the environment manager, the Docker
// engine of docker projects, the environment itself (built with
// internal/pyenv, the machinery python_function models use, so a project
// and the model it logs share one cached environment). Then it creates the
// run with MLflow's tags, logs the parameters, and runs the command with
// bash in its own process group with MLFLOW_RUN_ID, MLFLOW_TRACKING_URI and
// MLFLOW_EXPERIMENT_ID set. The run ends FINISHED or FAILED by the exit
// status, or KILLED when the context ends: the signal then goes to the
// whole process group, and whatever the command leaves behind is killed.
//
// Beyond MLflow: a sweep runs the cross product of comma-separated
// parameter values as child runs of one parent run with bounded
// parallelism, and the kubernetes backend renders MLflow's Job template
// and applies it with kubectl, or writes it when kubectl is absent.
package projects
