// Package predict scores files with a model: it streams record batches out
// of Parquet, Arrow IPC, CSV, JSON-lines or MLflow JSON inputs, runs them
// through a flavors.Predictor with a bounded number of batches in flight,
// and writes the predictions (with any pass-through input columns) in input
// order, so memory follows --batch-rows × --parallelism rather than the
// size of the input.
//
// Inputs are read as MLflow reads them: JSON and CSV go through the same
// codec as /invocations (serve/scoring), Arrow and Parquet tables meet the
// signature as an Arrow request body does. Outputs are written under a
// temporary name and renamed when complete, so a failed or interrupted run
// never leaves a file that looks finished.
package predict
