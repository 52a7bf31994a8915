package server

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/tracking"
)

// Request specs: the message's fields and MLflow's schema for each
// endpoint (mlflow/server/handlers.py, 2.x/3.x).

var tagFields = []field{{name: "key", kind: kString}, {name: "value", kind: kString}}

var viewTypeEnum = []string{"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}

var (
	createExperimentSpec = &spec{
		fields: []field{{name: "name", kind: kString}, {name: "artifact_location", kind: kString},
			{name: "tags", kind: kMessages, sub: tagFields}},
		schema: []rule{{name: "name", checks: []check{required, isString}},
			{name: "artifact_location", checks: []check{isString}},
			{name: "tags", checks: []check{isArray}}},
	}
	experimentIDSpec = &spec{
		fields: []field{{name: "experiment_id", kind: kString}},
		schema: []rule{{name: "experiment_id", checks: []check{required, isString}}},
	}
	getByNameSpec = &spec{
		fields: []field{{name: "experiment_name", kind: kString}},
		schema: []rule{{name: "experiment_name", checks: []check{required, isString}}},
	}
	searchExperimentsSpec = &spec{
		fields: []field{{name: "max_results", kind: kInt64}, {name: "page_token", kind: kString},
			{name: "filter", kind: kString}, {name: "order_by", kind: kStrings},
			{name: "view_type", kind: kEnum, enum: viewTypeEnum}},
		schema: []rule{{name: "view_type", checks: []check{isIntlike}},
			{name: "max_results", checks: []check{isIntlike}},
			{name: "order_by", checks: []check{isArray}},
			{name: "filter", checks: []check{isString}},
			{name: "page_token", checks: []check{isString}}},
	}
	updateExperimentSpec = &spec{
		fields: []field{{name: "experiment_id", kind: kString}, {name: "new_name", kind: kString}},
		schema: []rule{{name: "experiment_id", checks: []check{required, isString}},
			{name: "new_name", checks: []check{isString, required}}},
	}
	setExperimentTagSpec = &spec{
		fields: []field{{name: "experiment_id", kind: kString}, {name: "key", kind: kString}, {name: "value", kind: kString}},
		schema: []rule{{name: "experiment_id", checks: []check{required, isString}},
			{name: "key", checks: []check{required, isString}},
			{name: "value", checks: []check{isString}}},
	}
	deleteExperimentTagSpec = &spec{
		fields: []field{{name: "experiment_id", kind: kString}, {name: "key", kind: kString}},
		schema: []rule{{name: "experiment_id", checks: []check{required, isString}},
			{name: "key", checks: []check{required, isString}}},
	}
)

func tagsOf(items []map[string]any) []tracking.Tag {
	if len(items) == 0 {
		return nil
	}
	out := make([]tracking.Tag, len(items))
	for i, m := range items {
		out[i] = tracking.Tag{Key: objStr(m, "key"), Value: objStr(m, "value")}
	}
	return out
}

func (s *Server) createExperiment(c echo.Context) error {
	r, err := decode(c, createExperimentSpec)
	if err != nil {
		return err
	}
	loc := r.str("artifact_location")
	if err := checkArtifactLocation(loc); err != nil {
		return err
	}
	if strings.HasPrefix(strings.ToLower(loc), "runs:") {
		return invalidParam("Artifact location cannot be a runs:/ URI. Given: '%s'", loc)
	}
	id, err := s.store.CreateExperiment(c.Request().Context(), r.str("name"), loc, tagsOf(r.objects("tags")))
	if err != nil {
		return err
	}
	return writeJSON(c, struct {
		ExperimentID string `json:"experiment_id"`
	}{id})
}

type experimentResponse struct {
	Experiment wireExperiment `json:"experiment"`
}

func (s *Server) getExperiment(c echo.Context) error {
	r, err := decode(c, experimentIDSpec)
	if err != nil {
		return err
	}
	e, err := s.store.GetExperiment(c.Request().Context(), r.str("experiment_id"))
	if err != nil {
		return err
	}
	return writeJSON(c, experimentResponse{toWireExperiment(e)})
}

func (s *Server) getExperimentByName(c echo.Context) error {
	r, err := decode(c, getByNameSpec)
	if err != nil {
		return err
	}
	name := r.str("experiment_name")
	e, err := s.store.GetExperimentByName(c.Request().Context(), name)
	if err != nil {
		return err
	}
	if e == nil {
		return tracking.Errorf(tracking.ResourceDoesNotExist, "Could not find experiment with name '%s'", name)
	}
	return writeJSON(c, experimentResponse{toWireExperiment(e)})
}

func (s *Server) searchExperiments(c echo.Context) error {
	r, err := decode(c, searchExperimentsSpec)
	if err != nil {
		return err
	}
	q := tracking.ExperimentQuery{Filter: r.str("filter"), OrderBy: r.strings("order_by"), ViewType: tracking.ActiveOnly}
	if r.has("view_type") {
		if n, ok := enumValue(searchExperimentsSpec.fields[4], r.raw["view_type"]); ok {
			q.ViewType = tracking.ViewType(n)
		}
	}
	q.Page, err = page(r)
	if err != nil {
		return err
	}
	exps, token, err := s.store.SearchExperiments(c.Request().Context(), q)
	if err != nil {
		return err
	}
	resp := struct {
		Experiments   []wireExperiment `json:"experiments,omitempty"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{NextPageToken: token}
	for i := range exps {
		resp.Experiments = append(resp.Experiments, toWireExperiment(&exps[i]))
	}
	return writeJSON(c, resp)
}

// page reads max_results and page_token. An absent max_results is the
// default (1000), as MLflow's proto default; other values are checked with
// the messages of MLflow's SQL store for search_experiments, which checks
// them itself (runs/search's handler refuses values above the limit first,
// with its schema's message, so they never get here).
func page(r *request) (tracking.Page, error) {
	p := tracking.Page{PageToken: r.str("page_token")}
	if n, ok := r.int64("max_results"); ok {
		switch {
		case n < 1:
			return p, invalidParam("Invalid value for max_results. It must be a positive integer, but got %d", n)
		case n > tracking.MaxResultsLimit:
			return p, invalidParam("Invalid value for max_results. It must be at most %d, but got %d", tracking.MaxResultsLimit, n)
		}
		p.MaxResults = int(n)
	}
	return p, nil
}

func (s *Server) deleteExperiment(c echo.Context) error {
	r, err := decode(c, experimentIDSpec)
	if err != nil {
		return err
	}
	if err := s.store.DeleteExperiment(c.Request().Context(), r.str("experiment_id")); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) restoreExperiment(c echo.Context) error {
	r, err := decode(c, experimentIDSpec)
	if err != nil {
		return err
	}
	if err := s.store.RestoreExperiment(c.Request().Context(), r.str("experiment_id")); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) updateExperiment(c echo.Context) error {
	r, err := decode(c, updateExperimentSpec)
	if err != nil {
		return err
	}
	if name := r.str("new_name"); name != "" {
		if err := s.store.RenameExperiment(c.Request().Context(), r.str("experiment_id"), name); err != nil {
			return err
		}
	}
	return writeJSON(c, empty)
}

func (s *Server) setExperimentTag(c echo.Context) error {
	r, err := decode(c, setExperimentTagSpec)
	if err != nil {
		return err
	}
	tag := tracking.Tag{Key: r.str("key"), Value: r.str("value")}
	if err := s.store.SetExperimentTag(c.Request().Context(), r.str("experiment_id"), tag); err != nil {
		return err
	}
	return writeJSON(c, empty)
}

func (s *Server) deleteExperimentTag(c echo.Context) error {
	r, err := decode(c, deleteExperimentTagSpec)
	if err != nil {
		return err
	}
	if err := s.store.DeleteExperimentTag(c.Request().Context(), r.str("experiment_id"), r.str("key")); err != nil {
		return err
	}
	return writeJSON(c, empty)
}
