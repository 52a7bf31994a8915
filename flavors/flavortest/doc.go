// Package flavortest is the conformance suite every flavor must pass, in the
// manner of testing/fstest.TestFS and go-containerregistry's validate: a
// flavor's own test describes one model it can serve (a Case) and calls Run,
// which loads the model and checks, each as a subtest, the behaviour that
// serve, predict and the batcher rely on without knowing the flavor:
//
//   - Load: Load returns a Predictor; loading a model without the flavor's
//     block fails; loading with a cancelled context fails or succeeds, but
//     neither panics nor returns nothing.
//   - Predict: the result is a well-formed batch (columns agree with the
//     schema and with the row count; one output row per input row for a
//     batch-safe model); Predict neither modifies its input nor returns
//     memory that dies with it.
//   - Deterministic: the same batch, predicted again or rebuilt, gives the
//     same result, bit for bit.
//   - RowIndependence (batch-safe models): rows [a:b] predicted alone, as a
//     slice with a non-zero offset or as a compact copy, equal rows [a:b] of
//     the whole batch's result. The batcher merges requests and splits the
//     result by row, so this is what makes merging invisible.
//   - Concurrent: Predict from several goroutines at once gives the
//     sequential results (run it under -race).
//   - Cancel: a cancelled or expired context makes Predict return promptly
//     with an error matching the context's error, and the predictor still
//     works afterwards.
//   - BadInputs: a batch with no columns, and the Case's bad inputs, are
//     rejected with a *flavors.InputError (servers answer 400), never a
//     panic, and the predictor still works afterwards.
//   - ZeroRows: a batch with the right columns and no rows gives an error or
//     an empty result, never a panic.
//   - UnknownParams: params the model does not know are ignored.
//   - Schema (flavors.SchemaDescriber): the described inputs match the
//     columns the predictor accepted, the described outputs the columns it
//     returned.
//   - Health (flavors.HealthChecker): a loaded predictor is healthy.
//   - Close (io.Closer): Close while predictions run lets each finish or
//     fail with flavors.ErrClosed; Close is idempotent; Predict after Close
//     fails with flavors.ErrClosed, and a HealthChecker's Check with an error.
//
// Every batch the suite builds comes from a memory.CheckedAllocator whose
// freed memory is overwritten, so a check also fails when, once everything
// was released, input memory is still held (the predictor kept a
// reference) or when an output changes as its input is released (the
// output shares input memory without a reference). A panic in the flavor
// fails the check instead of the test binary.
//
// Outputs are allocated by the flavor, which LoadOptions gives no
// allocator; their leaks are not detected.
package flavortest
