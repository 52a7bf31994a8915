package search

import "slices"

// rules is what differs between the run and the experiment dialects of the
// filter and order_by languages (MLflow's SearchUtils and
// SearchExperimentsUtils).
type rules struct {
	experiments bool
	searchKeys  []string // valid attribute keys in filters, as MLflow lists them
	orderKeys   []string // valid attribute keys in order_by
	numeric     map[string]bool
	aliases     map[string]string
}

var runRules = &rules{
	searchKeys: []string{"Created", "Run Name", "Run name", "artifact_uri", "created", "end_time",
		"run name", "run_id", "run_name", "start_time", "status", "user_id"},
	orderKeys: []string{"Created", "artifact_uri", "created", "end_time", "run_id", "run_name",
		"start_time", "status", "user_id"},
	numeric: map[string]bool{"start_time": true, "end_time": true, "created": true, "Created": true},
	aliases: map[string]string{"created": "start_time", "Created": "start_time",
		"run name": "run_name", "Run name": "run_name", "Run Name": "run_name"},
}

var experimentRules = &rules{
	experiments: true,
	searchKeys:  []string{"creation_time", "last_update_time", "name"},
	orderKeys:   []string{"creation_time", "experiment_id", "last_update_time", "name"},
	numeric:     map[string]bool{"creation_time": true, "last_update_time": true},
}

// runEntities maps every prefix MLflow accepts in run filters to its entity.
var runEntities = map[string]Entity{
	"metric": Metric, "metrics": Metric,
	"parameter": Param, "parameters": Param, "param": Param, "params": Param,
	"tag": Tag, "tags": Tag,
	"attribute": Attribute, "attributes": Attribute, "attr": Attribute, "run": Attribute,
	"dataset": Dataset, "datasets": Dataset,
}

var datasetKeys = []string{"name", "digest", "context"}

// Comparator sets, in the order MLflow's source writes them (its messages
// print these sets).
var (
	numericOps = []string{">", ">=", "!=", "=", "<", "<="}
	stringOps  = []string{"!=", "=", "LIKE", "ILIKE"}
	listOps    = []string{"!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"}
)

// entity resolves a prefix (backticks already removed where MLflow removes
// them). raw is the prefix as written, for the experiment dialect, which
// checks it before removing backticks.
func (r *rules) entity(raw, name string) (Entity, error) {
	if r.experiments {
		switch raw {
		case "attribute":
			return Attribute, nil
		case "tag", "tags":
			return Tag, nil
		}
		return "", invalid("Invalid entity type '%s'. Valid entity types are ('attribute', 'tag', 'tags')", raw)
	}
	if e, ok := runEntities[name]; ok {
		return e, nil
	}
	return "", invalid("Invalid entity type '%s'. Valid values are %s", name,
		pyList([]string{"metric", "parameter", "tag", "attribute", "dataset"}))
}

// checkKey validates a key of entity e against valid (the filter's or the
// order_by's attribute keys).
func (r *rules) checkKey(e Entity, key string, valid []string) error {
	switch e {
	case Attribute:
		if !slices.Contains(valid, key) {
			return invalid("Invalid attribute key '%s' specified. Valid keys are '%s'", key, pySet(valid))
		}
	case Dataset:
		if !slices.Contains(datasetKeys, key) {
			return invalid("Invalid dataset key '%s' specified. Valid keys are '%s'", key, pySet(datasetKeys))
		}
	}
	return nil
}

// canonical resolves an attribute alias.
func (r *rules) canonical(key string) string {
	if c, ok := r.aliases[key]; ok {
		return c
	}
	return key
}
