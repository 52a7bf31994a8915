package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/mlship/mlship/tracking"
)

// The JSON shapes of MLflow's REST API 2.0 (MLFLOW_COMPAT.md §7.2): proto
// field names, int64 as JSON numbers (MLflow's renderer) but accepted as
// strings too (proto3's canonical JSON), doubles as numbers or the strings
// "NaN", "Infinity" and "-Infinity".

// jsonInt is an int64 read from a JSON number or a quoted decimal string.
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		// A float-looking integer (1.7e12) is still an integer.
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63 {
			return fmt.Errorf("invalid int64 %s", b)
		}
		v = int64(f)
	}
	*n = jsonInt(v)
	return nil
}

// jsonFloat is a double that survives NaN and infinities, which
// encoding/json refuses: they travel as proto3's strings.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "NaN", "nan":
		*f = jsonFloat(math.NaN())
		return nil
	case "Infinity", "inf", "+Infinity":
		*f = jsonFloat(math.Inf(1))
		return nil
	case "-Infinity", "-inf":
		*f = jsonFloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid double %s", b)
	}
	*f = jsonFloat(v)
	return nil
}

// jsonEnum is a proto enum read from its name or its number.
type jsonEnum string

func (e *jsonEnum) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = jsonEnum(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid enum %s", b)
	}
	*e = jsonEnum(strconv.FormatInt(n, 10))
	return nil
}

type wireTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireParam = wireTag

type wireMetric struct {
	Key           string    `json:"key"`
	Value         jsonFloat `json:"value"`
	Timestamp     jsonInt   `json:"timestamp"`
	Step          jsonInt   `json:"step"`
	DatasetName   string    `json:"dataset_name,omitempty"`
	DatasetDigest string    `json:"dataset_digest,omitempty"`
	ModelID       string    `json:"model_id,omitempty"`
}

type wireExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   jsonInt   `json:"last_update_time"`
	CreationTime     jsonInt   `json:"creation_time"`
	Tags             []wireTag `json:"tags"`
}

type wireRunInfo struct {
	RunID          string   `json:"run_id"`
	RunUUID        string   `json:"run_uuid"`
	RunName        string   `json:"run_name"`
	ExperimentID   string   `json:"experiment_id"`
	UserID         string   `json:"user_id"`
	Status         jsonEnum `json:"status"`
	StartTime      jsonInt  `json:"start_time"`
	EndTime        jsonInt  `json:"end_time"`
	ArtifactURI    string   `json:"artifact_uri"`
	LifecycleStage string   `json:"lifecycle_stage"`
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
	Tags    []wireTag   `json:"tags,omitempty"`
	Dataset wireDataset `json:"dataset"`
}

type wireRun struct {
	Info wireRunInfo `json:"info"`
	Data struct {
		Metrics []wireMetric `json:"metrics"`
		Params  []wireParam  `json:"params"`
		Tags    []wireTag    `json:"tags"`
	} `json:"data"`
	Inputs struct {
		DatasetInputs []wireDatasetInput `json:"dataset_inputs"`
	} `json:"inputs"`
}

type wireFileInfo struct {
	Path     string  `json:"path"`
	IsDir    bool    `json:"is_dir"`
	FileSize jsonInt `json:"file_size"`
}

// convertAll maps a list between the domain and wire types, nil for an
// empty one (so omitempty drops it).
func convertAll[From, To any](in []From, conv func(From) To) []To {
	if len(in) == 0 {
		return nil
	}
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = conv(v)
	}
	return out
}

func tagsToWire(tags []tracking.Tag) []wireTag {
	return convertAll(tags, func(t tracking.Tag) wireTag { return wireTag(t) })
}

func tagsFromWire(tags []wireTag) []tracking.Tag {
	return convertAll(tags, func(t wireTag) tracking.Tag { return tracking.Tag(t) })
}

func paramsToWire(ps []tracking.Param) []wireParam {
	return convertAll(ps, func(p tracking.Param) wireParam { return wireParam(p) })
}

func paramsFromWire(ps []wireParam) []tracking.Param {
	return convertAll(ps, func(p wireParam) tracking.Param { return tracking.Param(p) })
}

func metricToWire(m tracking.Metric) wireMetric {
	return wireMetric{
		Key: m.Key, Value: jsonFloat(m.Value), Timestamp: jsonInt(m.Timestamp), Step: jsonInt(m.Step),
		DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID,
	}
}

func metricFromWire(m wireMetric) tracking.Metric {
	return tracking.Metric{
		Key: m.Key, Value: float64(m.Value), Timestamp: int64(m.Timestamp), Step: int64(m.Step),
		DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID,
	}
}

func metricsFromWire(ms []wireMetric) []tracking.Metric { return convertAll(ms, metricFromWire) }

func (e *wireExperiment) domain() tracking.Experiment {
	return tracking.Experiment{
		ID: e.ExperimentID, Name: e.Name, ArtifactLocation: e.ArtifactLocation,
		LifecycleStage: e.LifecycleStage, CreationTime: int64(e.CreationTime),
		LastUpdateTime: int64(e.LastUpdateTime), Tags: tagsFromWire(e.Tags),
	}
}

func (ri *wireRunInfo) domain() tracking.RunInfo {
	id := ri.RunID
	if id == "" {
		id = ri.RunUUID // servers before MLflow 1.0 sent only run_uuid
	}
	st, err := tracking.ParseRunStatus(string(ri.Status))
	if err != nil {
		st = tracking.RunStatus(ri.Status) // keep what the server said
	}
	return tracking.RunInfo{
		RunID: id, RunName: ri.RunName, ExperimentID: ri.ExperimentID, UserID: ri.UserID,
		Status: st, StartTime: int64(ri.StartTime), EndTime: int64(ri.EndTime),
		ArtifactURI: ri.ArtifactURI, LifecycleStage: ri.LifecycleStage,
	}
}

func (r *wireRun) domain() tracking.Run {
	run := tracking.Run{
		Info: r.Info.domain(),
		Data: tracking.RunData{
			Metrics: metricsFromWire(r.Data.Metrics),
			Params:  paramsFromWire(r.Data.Params),
			Tags:    tagsFromWire(r.Data.Tags),
		},
	}
	for _, in := range r.Inputs.DatasetInputs {
		d := in.Dataset
		run.Inputs = append(run.Inputs, tracking.DatasetInput{
			Tags: tagsFromWire(in.Tags),
			Dataset: tracking.Dataset{
				Name: d.Name, Digest: d.Digest, SourceType: d.SourceType,
				Source: d.Source, Schema: d.Schema, Profile: d.Profile,
			},
		})
	}
	return run
}

// errorBody is MLflow's error envelope.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}
