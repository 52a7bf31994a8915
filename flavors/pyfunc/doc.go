// Package pyfunc serves MLflow python_function models through a supervised
// pool of Python worker processes.
//
// Each worker runs the embedded mlship_worker.py under the interpreter
// internal/pyenv chooses, loads the model the way MLflow does (with
// mlflow.pyfunc.load_model when mlflow is importable, otherwise with
// embedded loaders for mlflow.sklearn, custom PythonModels and loader
// modules shipped in the model's code directory), and answers prediction
// requests over a private framed protocol on its stdin and stdout. Columns
// cross the pipe in Arrow's memory layout, so numbers are never formatted
// as text; numpy reads them in place.
//
// The pool restarts workers that die, with backoff; a request whose worker
// dies fails with flavors.ErrUnavailable (503), never with a wrong answer;
// a request that exceeds its deadline kills and replaces its worker.
package pyfunc
