package server

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/pyjson"
	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

// Responses are MLflow's protobuf messages rendered as its message_to_json
// renders them: proto field names, fields in field-number order, unset
// fields left out (a message with nothing set is {}), int64 as JSON
// numbers. What counts as set follows MLflow's entities' to_proto: for
// example a run's user_id is always set, its end_time only once it ended.

// pyFloat is a double rendered as Python's protobuf JSON printer renders
// it: repr form, and NaN and the infinities as the strings "NaN",
// "Infinity" and "-Infinity".
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return pyjson.AppendString(nil, string(pyjson.AppendFloat(nil, x))), nil
	}
	return pyjson.AppendFloat(nil, x), nil
}

type wireKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireExperiment struct {
	ExperimentID     string   `json:"experiment_id"`
	Name             string   `json:"name"`
	ArtifactLocation string   `json:"artifact_location"`
	LifecycleStage   string   `json:"lifecycle_stage"`
	LastUpdateTime   int64    `json:"last_update_time,omitempty"`
	CreationTime     int64    `json:"creation_time,omitempty"`
	Tags             []wireKV `json:"tags,omitempty"`
}

type wireRunInfo struct {
	RunUUID        string `json:"run_uuid"`
	ExperimentID   string `json:"experiment_id"`
	RunName        string `json:"run_name"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage"`
	RunID          string `json:"run_id"`
}

type wireMetric struct {
	Key           string  `json:"key"`
	Value         pyFloat `json:"value"`
	Timestamp     int64   `json:"timestamp"`
	Step          int64   `json:"step"`
	DatasetName   string  `json:"dataset_name,omitempty"`
	DatasetDigest string  `json:"dataset_digest,omitempty"`
	ModelID       string  `json:"model_id,omitempty"`
}

type wireRunData struct {
	Metrics []wireMetric `json:"metrics,omitempty"`
	Params  []wireKV     `json:"params,omitempty"`
	Tags    []wireKV     `json:"tags,omitempty"`
}

type wireDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type wireDatasetInput struct {
	Tags    []wireKV    `json:"tags,omitempty"`
	Dataset wireDataset `json:"dataset"`
}

type wireRunInputs struct {
	DatasetInputs []wireDatasetInput `json:"dataset_inputs,omitempty"`
}

type wireRun struct {
	Info   wireRunInfo   `json:"info"`
	Data   wireRunData   `json:"data"`
	Inputs wireRunInputs `json:"inputs"`
}

type wireFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

func kvs[T tracking.Tag | tracking.Param](in []T) []wireKV {
	if len(in) == 0 {
		return nil
	}
	out := make([]wireKV, len(in))
	for i, t := range in {
		kv := struct{ Key, Value string }(t)
		out[i] = wireKV{Key: kv.Key, Value: kv.Value}
	}
	return out
}

func toWireExperiment(e *tracking.Experiment) wireExperiment {
	return wireExperiment{
		ExperimentID:     e.ID,
		Name:             e.Name,
		ArtifactLocation: e.ArtifactLocation,
		LifecycleStage:   e.LifecycleStage,
		LastUpdateTime:   e.LastUpdateTime,
		CreationTime:     e.CreationTime,
		Tags:             kvs(e.Tags),
	}
}

func toWireRunInfo(ri *tracking.RunInfo) wireRunInfo {
	return wireRunInfo{
		RunUUID:        ri.RunID,
		ExperimentID:   ri.ExperimentID,
		RunName:        ri.RunName,
		UserID:         ri.UserID,
		Status:         string(ri.Status),
		StartTime:      ri.StartTime,
		EndTime:        ri.EndTime,
		ArtifactURI:    ri.ArtifactURI,
		LifecycleStage: ri.LifecycleStage,
		RunID:          ri.RunID,
	}
}

func toWireMetrics(ms []tracking.Metric) []wireMetric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]wireMetric, len(ms))
	for i, m := range ms {
		out[i] = wireMetric{Key: m.Key, Value: pyFloat(m.Value), Timestamp: m.Timestamp, Step: m.Step,
			DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID}
	}
	return out
}

func toWireRun(r *tracking.Run) wireRun {
	w := wireRun{
		Info: toWireRunInfo(&r.Info),
		Data: wireRunData{Metrics: toWireMetrics(r.Data.Metrics), Params: kvs(r.Data.Params), Tags: kvs(r.Data.Tags)},
	}
	for _, in := range r.Inputs {
		d := in.Dataset
		w.Inputs.DatasetInputs = append(w.Inputs.DatasetInputs, wireDatasetInput{
			Tags: kvs(in.Tags),
			Dataset: wireDataset{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source,
				Schema: d.Schema, Profile: d.Profile},
		})
	}
	return w
}

func toWireFiles(fs []artifacts.FileInfo, rename func(string) string) []wireFileInfo {
	if len(fs) == 0 {
		return nil
	}
	out := make([]wireFileInfo, len(fs))
	for i, f := range fs {
		w := wireFileInfo{Path: rename(f.Path), IsDir: f.IsDir}
		if !f.IsDir {
			size := f.Size
			w.FileSize = &size
		}
		out[i] = w
	}
	return out
}

// writeJSON answers 200 with v rendered as above.
func writeJSON(c echo.Context, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

// empty is a response message with no fields set.
var empty = struct{}{}
