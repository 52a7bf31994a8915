package ui

import (
	"net/http"
	"net/url"

	"github.com/mlship/mlship/tracking"
)

type runPage struct {
	ID, Name       string
	ExperimentID   string
	ExperimentURL  string
	ExperimentName string
	Status         string
	Lifecycle      string
	Start, End     string
	Duration       string
	User           string
	ArtifactURI    string
	Source         []keyValue // mlflow.source.* tags, in a fixed order
	ParentURL      string
	ParentID       string
	Note           string

	Params     []tracking.Param
	Metrics    []metricRow
	Tags       []tracking.Tag // user tags
	SystemTags []tracking.Tag // mlflow.* tags
	Inputs     []datasetRow
	CompareURL string

	Artifacts artifactView
	Models    []modelView
}

type metricRow struct {
	Key, Value string
	Step       int64
	Time       string
	ChartURL   string
}

type datasetRow struct {
	Name, Digest, Context, Source string
}

// sourceTags are the system tags describing where a run came from, shown
// in the run's summary rather than among the other system tags.
var sourceTags = []struct{ key, label string }{
	{"mlflow.source.type", "Source type"},
	{"mlflow.source.name", "Source"},
	{"mlflow.source.git.commit", "Git commit"},
	{"mlflow.source.git.branch", "Git branch"},
	{"mlflow.source.git.repoURL", "Git repository"},
	{"mlflow.project.entryPoint", "Entry point"},
}

func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := h.store.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	info := run.Info
	p := runPage{
		ID: info.RunID, Name: info.RunName,
		ExperimentID: info.ExperimentID, ExperimentURL: h.expLink(info.ExperimentID),
		ExperimentName: info.ExperimentID,
		Status:         string(info.Status), Lifecycle: info.LifecycleStage,
		Start: formatTime(info.StartTime), End: formatTime(info.EndTime),
		Duration: formatDuration(info.StartTime, info.EndTime),
		User:     info.UserID, ArtifactURI: info.ArtifactURI,
		Params: run.Data.Params,
	}
	if p.Name == "" {
		p.Name = info.RunID
	}
	// The experiment's name is for the breadcrumb only; a run whose
	// experiment cannot be read still shows.
	if exp, err := h.store.GetExperiment(ctx, info.ExperimentID); err == nil {
		p.ExperimentName = exp.Name
	}
	if p.User == "" {
		p.User, _ = run.Tag("mlflow.user")
	}
	for _, s := range sourceTags {
		if v, ok := run.Tag(s.key); ok && v != "" {
			p.Source = append(p.Source, keyValue{s.label, v})
		}
	}
	if v, ok := run.Tag("mlflow.parentRunId"); ok && v != "" {
		p.ParentID, p.ParentURL = v, h.runLink(v)
	}
	p.Note, _ = run.Tag("mlflow.note.content")
	for _, t := range run.Data.Tags {
		if isSystemTag(t.Key) {
			p.SystemTags = append(p.SystemTags, t)
		} else {
			p.Tags = append(p.Tags, t)
		}
	}
	for _, m := range run.Data.Metrics {
		p.Metrics = append(p.Metrics, metricRow{
			Key: m.Key, Value: formatFloat(m.Value), Step: m.Step, Time: formatTime(m.Timestamp),
			ChartURL: h.link("/compare", url.Values{"runs": {info.RunID}, "metric": {m.Key}}),
		})
	}
	if len(run.Data.Metrics) > 0 {
		p.CompareURL = h.link("/compare", url.Values{"runs": {info.RunID}})
	}
	for _, in := range run.Inputs {
		d := datasetRow{Name: in.Dataset.Name, Digest: in.Dataset.Digest, Source: in.Dataset.SourceType}
		for _, t := range in.Tags {
			if t.Key == "mlflow.data.context" {
				d.Context = t.Value
			}
		}
		p.Inputs = append(p.Inputs, d)
	}

	av, repo, root, status := h.artifactsOf(ctx, run, r.URL.Query())
	p.Artifacts = av
	p.Models = h.loggedModels(ctx, run, repo, root)

	h.render(w, r, status, "run", layout{
		Title: p.Name,
		Crumbs: []crumb{
			{Label: p.ExperimentName, URL: p.ExperimentURL},
			{Label: p.Name},
		},
		Page: p,
	})
}
