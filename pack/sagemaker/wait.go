package sagemaker

import (
	"context"
	"fmt"
	"time"
)

// state is where an operation stands, as MLflow's
// _SageMakerOperationStatus.
type state int

const (
	inProgress state = iota
	succeeded
	failed
	timedOut
)

type status struct {
	state   state
	message string
}

func progress(msg string) status { return status{inProgress, msg} }
func success(msg string) status  { return status{succeeded, msg} }
func failure(msg string) status  { return status{failed, msg} }

// unknownFailure is MLflow's message when SageMaker gives no reason.
const unknownFailure = "An unknown SageMaker failure occurred. Please see the SageMaker console logs for more information."

// OperationError is a synchronous operation that failed or did not finish
// within its timeout. Message is SageMaker's failure reason or the timeout.
type OperationError struct {
	// Operation is "deployment", "deletion", "batch transform job" or
	// "termination".
	Operation string
	TimedOut  bool
	Message   string
}

func (e *OperationError) Error() string {
	return fmt.Sprintf("The %s operation failed with the following error message: %q", e.Operation, e.Message)
}

// await polls check every poll interval until it reports anything but
// progress, or timeout passes (MLflow's await_completion). Errors of check
// end the wait.
func (c *Client) await(ctx context.Context, timeout time.Duration, check func(context.Context) (status, error)) (status, error) {
	begin := time.Now()
	for i := 0; time.Since(begin) < timeout; i++ {
		st, err := check(ctx)
		if err != nil {
			return status{}, err
		}
		if st.state != inProgress {
			return st, nil
		}
		if i%4 == 0 {
			c.log.Info(st.message)
		}
		select {
		case <-ctx.Done():
			return status{}, ctx.Err()
		case <-time.After(c.poll):
		}
	}
	return status{timedOut, fmt.Sprintf("Timed out after waiting %d seconds for the operation to complete."+
		" This operation may still be in progress. Please check the AWS console for more information.",
		int(time.Since(begin).Seconds()))}, nil
}

// finish waits for an operation when synchronous, turns anything but
// success into an *OperationError, and runs cleanup unless archived.
func (c *Client) finish(ctx context.Context, op string, async, archive bool, timeout time.Duration,
	check func(context.Context) (status, error), cleanup func(context.Context) error) error {
	if async {
		return nil
	}
	c.log.Info("waiting for the " + op + " operation to complete")
	st, err := c.await(ctx, timeout, check)
	if err != nil {
		return err
	}
	if st.state != succeeded {
		return &OperationError{Operation: op, TimedOut: st.state == timedOut, Message: st.message}
	}
	c.log.Info("the "+op+" operation completed successfully", "message", st.message)
	if archive || cleanup == nil {
		return nil
	}
	c.log.Info("cleaning up unused resources")
	return cleanup(ctx)
}

// checkAsync refuses MLflow's forbidden combination: an asynchronous
// operation cannot clean up after itself, so it must archive.
func checkAsync(what string, async, archive bool) error {
	if async && !archive {
		return fmt.Errorf("resources must be archived when %s runs asynchronously: give --archive with --async", what)
	}
	return nil
}
