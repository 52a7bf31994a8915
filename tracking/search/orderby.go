package search

import "strings"

// ParseRunOrderBy parses search-runs order_by clauses, each
// "<identifier> [ASC|DESC]" with ASC the default as in MLflow. Attributes
// are start_time (alias created/Created), end_time, run_name, run_id,
// status, user_id and artifact_uri; metrics.<key>, params.<key> and
// tags.<key> order by those values.
func ParseRunOrderBy(clauses []string) ([]OrderBy, error) {
	return parseOrderBys(clauses, runRules)
}

// ParseExperimentOrderBy parses search-experiments order_by clauses:
// name, experiment_id, creation_time and last_update_time.
func ParseExperimentOrderBy(clauses []string) ([]OrderBy, error) {
	return parseOrderBys(clauses, experimentRules)
}

func parseOrderBys(clauses []string, r *rules) ([]OrderBy, error) {
	if len(clauses) > MaxOrderByClauses {
		return nil, invalid("order_by has %d clauses; the limit is %d.", len(clauses), MaxOrderByClauses)
	}
	var out []OrderBy
	for _, c := range clauses {
		o, err := parseOrderBy(c, r)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func parseOrderBy(clause string, r *rules) (OrderBy, error) {
	if err := checkInput("order_by clause", clause); err != nil {
		return OrderBy{}, err
	}
	unparsable := invalid("Invalid order_by clause '%s'. Could not be parsed.", echo(clause))
	p := &parser{src: clause, r: r}
	p.skipSpace()
	if p.eof() {
		return OrderBy{}, unparsable
	}
	id, err := p.ident()
	if err != nil {
		return OrderBy{}, unparsable
	}
	o := OrderBy{Entity: Attribute, Key: id.key, Ascending: true}
	p.skipSpace()
	if !p.eof() {
		w := p.word(false)
		switch strings.ToLower(w) {
		case "asc":
		case "desc":
			o.Ascending = false
		case "":
			return OrderBy{}, unparsable
		default:
			p.skipSpace()
			if !p.eof() {
				return OrderBy{}, unparsable
			}
			return OrderBy{}, invalid("Invalid ordering key in order_by clause '%s'.", echo(clause))
		}
		p.skipSpace()
		if !p.eof() {
			return OrderBy{}, unparsable
		}
	}
	if id.hasPrefix {
		name := id.prefix
		if len(name) >= 2 && name[0] == '`' && name[len(name)-1] == '`' {
			name = name[1 : len(name)-1]
		}
		if o.Entity, err = r.entity(id.prefix, name); err != nil {
			return OrderBy{}, err
		}
	}
	if err := r.checkKey(o.Entity, id.key, r.orderKeys); err != nil {
		return OrderBy{}, err
	}
	switch {
	case o.Entity == Dataset:
		return OrderBy{}, invalid("Invalid order_by entity type '%s'", o.Entity)
	case r.experiments && o.Entity != Attribute:
		return OrderBy{}, invalid("Invalid order_by entity: %s", o.Entity)
	case o.Entity == Attribute:
		o.Key = r.canonical(o.Key)
	}
	return o, nil
}
