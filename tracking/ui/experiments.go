package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/mlship/mlship/tracking"
)

// Experiments per page of the list, and the most runs counted per
// experiment: the store has no count call, so counting pages through run
// ids, and a huge experiment shows as "1000+".
const (
	experimentsPerPage = 100
	maxCountedRuns     = 1000
)

type experimentsPage struct {
	Experiments []experimentRow
	FirstURL    string
	NextURL     string
}

type experimentRow struct {
	ID, Name, URL    string
	Runs             string
	Created, Updated string
	ArtifactLocation string
}

func (h *handler) experiments(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.URL.Query().Get("page_token")
	exps, next, err := h.store.SearchExperiments(ctx, tracking.ExperimentQuery{
		ViewType: tracking.ActiveOnly,
		OrderBy:  []string{"creation_time DESC"},
		Page:     tracking.Page{MaxResults: experimentsPerPage, PageToken: token},
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var p experimentsPage
	for _, e := range exps {
		runs, err := h.countRuns(r, e.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		p.Experiments = append(p.Experiments, experimentRow{
			ID: e.ID, Name: e.Name, URL: h.expLink(e.ID), Runs: runs,
			Created: formatTime(e.CreationTime), Updated: formatTime(e.LastUpdateTime),
			ArtifactLocation: e.ArtifactLocation,
		})
	}
	if token != "" {
		p.FirstURL = h.link("/", nil)
	}
	if next != "" {
		p.NextURL = h.link("/", url.Values{"page_token": {next}})
	}
	h.render(w, r, http.StatusOK, "experiments", layout{Title: "Experiments", Page: p})
}

// countRuns counts an experiment's active runs up to maxCountedRuns.
func (h *handler) countRuns(r *http.Request, expID string) (string, error) {
	runs, next, err := h.store.SearchRuns(r.Context(), tracking.RunQuery{
		ExperimentIDs: []string{expID},
		ViewType:      tracking.ActiveOnly,
		Page:          tracking.Page{MaxResults: maxCountedRuns},
	})
	if err != nil {
		return "", err
	}
	if next != "" {
		return strconv.Itoa(len(runs)) + "+", nil
	}
	return strconv.Itoa(len(runs)), nil
}
