package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// CreateExperiment creates an experiment and returns its id. An empty
// artifactLocation lets the server choose (mlflow-artifacts:/<id> when it
// proxies artifacts).
func (c *Client) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []tracking.Tag) (string, error) {
	if err := checkExperimentName(name); err != nil {
		return "", err
	}
	in := struct {
		Name             string    `json:"name"`
		ArtifactLocation string    `json:"artifact_location,omitempty"`
		Tags             []wireTag `json:"tags,omitempty"`
	}{name, artifactLocation, tagsToWire(tags)}
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.api(ctx, http.MethodPost, "/experiments/create", in, &out, false); err != nil {
		return "", err
	}
	return out.ExperimentID, nil
}

// GetExperiment returns the experiment with id.
func (c *Client) GetExperiment(ctx context.Context, id string) (*tracking.Experiment, error) {
	return c.getExperiment(ctx, "/experiments/get", url.Values{"experiment_id": {id}})
}

// GetExperimentByName returns the experiment named name, active or deleted.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*tracking.Experiment, error) {
	return c.getExperiment(ctx, "/experiments/get-by-name", url.Values{"experiment_name": {name}})
}

func (c *Client) getExperiment(ctx context.Context, path string, q url.Values) (*tracking.Experiment, error) {
	var out struct {
		Experiment wireExperiment `json:"experiment"`
	}
	if err := c.api(ctx, http.MethodGet, path, q, &out, true); err != nil {
		return nil, err
	}
	e := out.Experiment.domain()
	return &e, nil
}

// SearchExperiments returns one page of experiments and the token of the
// next ("" after the last).
func (c *Client) SearchExperiments(ctx context.Context, q tracking.ExperimentQuery) ([]tracking.Experiment, string, error) {
	if err := checkMaxResults(q.MaxResults); err != nil {
		return nil, "", err
	}
	in := struct {
		MaxResults int      `json:"max_results,omitempty"`
		PageToken  string   `json:"page_token,omitempty"`
		Filter     string   `json:"filter,omitempty"`
		OrderBy    []string `json:"order_by,omitempty"`
		ViewType   string   `json:"view_type,omitempty"`
	}{q.MaxResults, q.PageToken, q.Filter, q.OrderBy, viewType(q.ViewType)}
	var out struct {
		Experiments   []wireExperiment `json:"experiments"`
		NextPageToken string           `json:"next_page_token"`
	}
	// Searching reads only, so it may be retried although it is a POST.
	if err := c.api(ctx, http.MethodPost, "/experiments/search", in, &out, true); err != nil {
		return nil, "", err
	}
	exps := make([]tracking.Experiment, len(out.Experiments))
	for i := range out.Experiments {
		exps[i] = out.Experiments[i].domain()
	}
	return exps, out.NextPageToken, nil
}

// Experiments iterates over every experiment q matches, page by page,
// starting at q.PageToken. Iteration stops at the first error, which it
// yields.
func (c *Client) Experiments(ctx context.Context, q tracking.ExperimentQuery) iter.Seq2[tracking.Experiment, error] {
	return func(yield func(tracking.Experiment, error) bool) {
		for {
			page, next, err := c.SearchExperiments(ctx, q)
			if err != nil {
				yield(tracking.Experiment{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if next == "" || next == q.PageToken {
				return
			}
			q.PageToken = next
		}
	}
}

// RenameExperiment gives experiment id a new name.
func (c *Client) RenameExperiment(ctx context.Context, id, newName string) error {
	if err := checkExperimentName(newName); err != nil {
		return err
	}
	in := map[string]string{"experiment_id": id, "new_name": newName}
	return c.api(ctx, http.MethodPost, "/experiments/update", in, nil, true)
}

// DeleteExperiment marks experiment id and its runs deleted.
func (c *Client) DeleteExperiment(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "/experiments/delete", map[string]string{"experiment_id": id}, nil, true)
}

// RestoreExperiment brings a deleted experiment back.
func (c *Client) RestoreExperiment(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "/experiments/restore", map[string]string{"experiment_id": id}, nil, true)
}

// SetExperimentTag sets (or replaces) a tag of experiment id.
func (c *Client) SetExperimentTag(ctx context.Context, id string, tag tracking.Tag) error {
	in := map[string]string{"experiment_id": id, "key": tag.Key, "value": tag.Value}
	return c.api(ctx, http.MethodPost, "/experiments/set-experiment-tag", in, nil, true)
}

// DeleteExperimentTag removes a tag of experiment id.
func (c *Client) DeleteExperimentTag(ctx context.Context, id, key string) error {
	in := map[string]string{"experiment_id": id, "key": key}
	return c.api(ctx, http.MethodPost, "/experiments/delete-experiment-tag", in, nil, true)
}

// viewType is MLflow's spelling of v; zero stays unset (the server's
// default, ACTIVE_ONLY).
func viewType(v tracking.ViewType) string {
	if v == 0 {
		return ""
	}
	return v.String()
}

// checkExperimentName rejects an empty name before sending it, as
// MLflow's client does (_validate_experiment_name), with the stores'
// message.
func checkExperimentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Invalid experiment name: '%s'", name)
	}
	return nil
}

// checkMaxResults rejects a page size every MLflow server refuses, with
// the stores' message.
func checkMaxResults(n int) error {
	if n < 0 || n > tracking.MaxResultsLimit {
		return tracking.Errorf(tracking.InvalidParameterValue,
			"Invalid value for request parameter max_results. It must be at most %d, but got value %d", tracking.MaxResultsLimit, n)
	}
	return nil
}
