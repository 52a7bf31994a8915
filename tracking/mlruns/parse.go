package mlruns

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/tracking"
)

// experimentMeta is an experiment's meta.yaml as MLflow's FileStore
// writes it. Older versions wrote experiment_id unquoted, so ids are read
// as scalars of any type.
type experimentMeta struct {
	ArtifactLocation string      `yaml:"artifact_location"`
	CreationTime     yamlInt     `yaml:"creation_time"`
	ExperimentID     yamlScalar  `yaml:"experiment_id"`
	LastUpdateTime   yamlInt     `yaml:"last_update_time"`
	LifecycleStage   string      `yaml:"lifecycle_stage"`
	Name             yamlScalar  `yaml:"name"`
	Tags             interface{} `yaml:"tags"` // always empty; tags live in tags/
}

// runMeta is a run's meta.yaml.
type runMeta struct {
	ArtifactURI    string     `yaml:"artifact_uri"`
	EndTime        yamlInt    `yaml:"end_time"`
	ExperimentID   yamlScalar `yaml:"experiment_id"`
	LifecycleStage string     `yaml:"lifecycle_stage"`
	RunID          string     `yaml:"run_id"`
	RunUUID        string     `yaml:"run_uuid"`
	RunName        yamlScalar `yaml:"run_name"`
	Name           yamlScalar `yaml:"name"` // MLflow 1.x, usually ''
	StartTime      yamlInt    `yaml:"start_time"`
	Status         yamlScalar `yaml:"status"`
	UserID         yamlScalar `yaml:"user_id"`
}

// yamlScalar reads any scalar (string, int, bool) as its text; null is "".
type yamlScalar string

func (s *yamlScalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar, got a %s", n.Line, kindName(n.Kind))
	}
	if n.Tag == "!!null" {
		*s = ""
		return nil
	}
	*s = yamlScalar(n.Value)
	return nil
}

// yamlInt reads an integer; null (end_time of a running run) is 0.
type yamlInt int64

func (i *yamlInt) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want an integer, got a %s", n.Line, kindName(n.Kind))
	}
	if n.Tag == "!!null" || n.Value == "" {
		*i = 0
		return nil
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		// Some writers leave a float (1.7e12); accept it when integral.
		f, ferr := strconv.ParseFloat(n.Value, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return fmt.Errorf("line %d: %q is not an integer", n.Line, n.Value)
		}
		v = int64(f)
	}
	*i = yamlInt(v)
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// parseExperimentMeta reads an experiment's meta.yaml.
func parseExperimentMeta(b []byte) (tracking.Experiment, error) {
	var m experimentMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		return tracking.Experiment{}, fmt.Errorf("meta.yaml: %w", err)
	}
	e := tracking.Experiment{
		ID:               string(m.ExperimentID),
		Name:             string(m.Name),
		ArtifactLocation: m.ArtifactLocation,
		LifecycleStage:   m.LifecycleStage,
		CreationTime:     int64(m.CreationTime),
		LastUpdateTime:   int64(m.LastUpdateTime),
	}
	if e.ID == "" {
		return e, fmt.Errorf("meta.yaml: no experiment_id")
	}
	if e.Name == "" {
		return e, fmt.Errorf("meta.yaml: experiment %s has no name", e.ID)
	}
	stage, err := parseStage(e.LifecycleStage)
	if err != nil {
		return e, err
	}
	e.LifecycleStage = stage
	return e, nil
}

// validRunID is MLflow's run id rule (_validate_run_id).
var validRunID = regexp.MustCompile(`^[a-zA-Z0-9][\w\-]{0,255}$`)

// parseRunMeta reads a run's meta.yaml. Status is MLflow's enum number
// (1 RUNNING ... 5 KILLED) or its name.
func parseRunMeta(b []byte) (tracking.RunInfo, error) {
	var m runMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		return tracking.RunInfo{}, fmt.Errorf("meta.yaml: %w", err)
	}
	id := m.RunID
	if id == "" {
		id = m.RunUUID
	}
	if m.RunID != "" && m.RunUUID != "" && m.RunID != m.RunUUID {
		return tracking.RunInfo{}, fmt.Errorf("meta.yaml: run_id %q and run_uuid %q differ", m.RunID, m.RunUUID)
	}
	if id == "" {
		return tracking.RunInfo{}, fmt.Errorf("meta.yaml: no run_id")
	}
	if !validRunID.MatchString(id) {
		return tracking.RunInfo{}, fmt.Errorf("meta.yaml: invalid run_id %q", truncate(id))
	}
	name := string(m.RunName)
	if name == "" {
		name = string(m.Name)
	}
	r := tracking.RunInfo{
		RunID:        id,
		RunName:      name,
		ExperimentID: string(m.ExperimentID),
		UserID:       string(m.UserID),
		StartTime:    int64(m.StartTime),
		EndTime:      int64(m.EndTime),
		ArtifactURI:  m.ArtifactURI,
	}
	var err error
	if r.LifecycleStage, err = parseStage(m.LifecycleStage); err != nil {
		return r, err
	}
	st := string(m.Status)
	if st == "" {
		st = "RUNNING"
	}
	if r.Status, err = tracking.ParseRunStatus(st); err != nil {
		return r, fmt.Errorf("meta.yaml: run %s: unknown status %q", id, st)
	}
	return r, nil
}

func parseStage(s string) (string, error) {
	switch s {
	case "", tracking.StageActive:
		return tracking.StageActive, nil // very old stores wrote none
	case tracking.StageDeleted:
		return tracking.StageDeleted, nil
	}
	return "", fmt.Errorf("meta.yaml: unknown lifecycle_stage %q", s)
}

// parseMetricLine reads one line of a metric file: "<timestamp_ms> <value>
// <step>", optionally followed by a dataset name and digest (MLflow 2.x/3.x
// logging with a dataset) — or "<timestamp_ms> <value>" from stores older
// than steps, whose step is 0. Values are Python's float spellings, "nan"
// and "inf" included.
func parseMetricLine(key, line string) (tracking.Metric, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 5 || len(f) == 4 {
		return tracking.Metric{}, fmt.Errorf("metric %s: malformed line %q (want \"<timestamp> <value> <step>\")", key, truncate(line))
	}
	m := tracking.Metric{Key: key}
	var err error
	if m.Timestamp, err = parseIntish(f[0]); err != nil {
		return m, fmt.Errorf("metric %s: bad timestamp in %q", key, truncate(line))
	}
	if m.Value, err = strconv.ParseFloat(f[1], 64); err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return m, fmt.Errorf("metric %s: bad value in %q", key, truncate(line))
		}
		// ±1e999 overflows to ±Inf, which ParseFloat returns with ErrRange.
	}
	if len(f) >= 3 {
		if m.Step, err = parseIntish(f[2]); err != nil {
			return m, fmt.Errorf("metric %s: bad step in %q", key, truncate(line))
		}
	}
	if len(f) == 5 {
		m.DatasetName, m.DatasetDigest = f[3], f[4]
	}
	return m, nil
}

// parseIntish reads an integer, accepting an integral float ("1.0"), as
// Python's int(float(...)) in MLflow's reader does.
func parseIntish(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return int64(f), nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// datasetMeta is <experiment>/datasets/<dataset_id>/meta.yaml (MLflow 2.4+).
type datasetMeta struct {
	Name       yamlScalar `yaml:"name"`
	Digest     yamlScalar `yaml:"digest"`
	SourceType yamlScalar `yaml:"source_type"`
	Source     yamlScalar `yaml:"source"`
	Schema     yamlScalar `yaml:"schema"`
	Profile    yamlScalar `yaml:"profile"`
}

func parseDatasetMeta(b []byte) (tracking.Dataset, error) {
	var m datasetMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		return tracking.Dataset{}, fmt.Errorf("dataset meta.yaml: %w", err)
	}
	d := tracking.Dataset{
		Name: string(m.Name), Digest: string(m.Digest), SourceType: string(m.SourceType),
		Source: string(m.Source), Schema: string(m.Schema), Profile: string(m.Profile),
	}
	if d.Name == "" || d.Digest == "" {
		return d, fmt.Errorf("dataset meta.yaml: a dataset needs a name and a digest")
	}
	return d, nil
}

// inputMeta is <run>/inputs/<input_id>/meta.yaml: a link from a dataset
// (source) to the run, with the input's tags (mlflow.data.context).
type inputMeta struct {
	SourceType yamlScalar            `yaml:"source_type"`
	SourceID   yamlScalar            `yaml:"source_id"`
	Tags       map[string]yamlScalar `yaml:"tags"`
}

// parseInputMeta returns the dataset id an input links to and its tags;
// ok is false for inputs that are not datasets (which MLflow skips too).
func parseInputMeta(b []byte) (datasetID string, tags []tracking.Tag, ok bool, err error) {
	var m inputMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		return "", nil, false, fmt.Errorf("input meta.yaml: %w", err)
	}
	if string(m.SourceType) != "DATASET" {
		return "", nil, false, nil
	}
	if m.SourceID == "" {
		return "", nil, false, fmt.Errorf("input meta.yaml: no source_id")
	}
	for k, v := range m.Tags {
		tags = append(tags, tracking.Tag{Key: k, Value: string(v)})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return string(m.SourceID), tags, true, nil
}
