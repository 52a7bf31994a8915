package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlship/mlship/tracking"
)

// Runs per page of an experiment's table unless ?max_results= says.
const (
	defaultRunsPerPage = 50
	maxRunsPerPage     = 1000
)

type experimentPage struct {
	ID, Name    string
	Description string
	Tags        []tracking.Tag
	Lifecycle   string

	// The form's current values.
	Filter   string
	OrderBy  string
	View     string
	Columns  string
	MaxRes   int
	Error    string // a bad filter, order_by, column or page token
	Heads    []columnHead
	Rows     []runRow
	Hidden   int // default columns left out by the caps
	Choices  []columnChoice
	FirstURL string
	NextURL  string
	Action   string // the form's own URL
	Compare  string // the compare page's URL
	Views    []string
}

type columnHead struct {
	Label   string
	Kind    string // "metrics", "params", "tags" or "" for attributes
	SortURL string
	Sort    string // "asc", "desc" or ""
}

type columnChoice struct {
	Value   string
	Checked bool
}

type runRow struct {
	ID, Name, URL   string
	Status          string
	Start, Duration string
	User            string
	Cells           []string
}

// The attribute columns every table has, with their order_by keys.
var attrColumns = []struct{ label, key string }{
	{"Run", "attributes.run_name"},
	{"Created", "attributes.start_time"},
	{"Duration", ""},
	{"Status", "attributes.status"},
	{"User", "attributes.user_id"},
}

func (h *handler) experiment(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	exp, err := h.store.GetExperiment(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	p := experimentPage{
		ID: exp.ID, Name: exp.Name, Lifecycle: exp.LifecycleStage,
		Filter:  q.Get("filter"),
		View:    strings.ToUpper(q.Get("view")),
		MaxRes:  defaultRunsPerPage,
		Action:  h.expLink(exp.ID),
		Compare: h.link("/compare", nil),
		Views:   []string{"ACTIVE_ONLY", "DELETED_ONLY", "ALL"},
	}
	for _, t := range exp.Tags {
		switch {
		case t.Key == "mlflow.note.content":
			p.Description = t.Value
		case !isSystemTag(t.Key):
			p.Tags = append(p.Tags, t)
		}
	}
	var orderBy []string
	for _, o := range q["order_by"] {
		if o = strings.TrimSpace(o); o != "" {
			orderBy = append(orderBy, o)
		}
	}
	if len(orderBy) > 0 {
		p.OrderBy = orderBy[0]
	}
	status := http.StatusOK
	bad := func(msg string) {
		if p.Error == "" {
			p.Error = msg
		}
		status = http.StatusBadRequest
	}
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsPerPage {
			bad("max_results must be a number from 1 to " + strconv.Itoa(maxRunsPerPage))
		} else {
			p.MaxRes = n
		}
	}
	view, err := tracking.ParseViewType(p.View)
	if err != nil {
		bad(userMessage(err))
		view = tracking.ActiveOnly
	}
	p.View = view.String()
	cols, err := parseColumns(q["columns"])
	if err != nil {
		bad(err.Error())
		cols = nil
	}

	var runs []tracking.Run
	var next string
	if status == http.StatusOK {
		runs, next, err = h.store.SearchRuns(ctx, tracking.RunQuery{
			ExperimentIDs: []string{exp.ID},
			Filter:        p.Filter,
			OrderBy:       orderBy,
			ViewType:      view,
			Page:          tracking.Page{MaxResults: p.MaxRes, PageToken: q.Get("page_token")},
		})
		if err != nil {
			// A malformed filter, order_by or page token is the user's to
			// fix: show the store's message above the table, keep the form.
			if statusOf(err) >= 500 {
				h.fail(w, r, err)
				return
			}
			bad(userMessage(err))
			status = statusOf(err)
		}
	}

	available := availableColumns(runs)
	explicit := len(cols) > 0
	if !explicit {
		cols, p.Hidden = defaultColumns(available)
	}
	colNames := make([]string, len(cols))
	for i, c := range cols {
		colNames[i] = c.String()
	}
	if explicit {
		p.Columns = strings.Join(colNames, ",")
	}
	for _, c := range available {
		p.Choices = append(p.Choices, columnChoice{Value: c.String(), Checked: slices.Contains(cols, c)})
	}
	// Columns asked for that no run on this page has still get a choice,
	// so unticking them is possible.
	for _, c := range cols {
		if !slices.Contains(available, c) {
			p.Choices = append(p.Choices, columnChoice{Value: c.String(), Checked: true})
		}
	}

	// state is the query every link of this page keeps (filter, columns,
	// view, page size), to which a link adds its own change.
	state := func() url.Values {
		v := url.Values{}
		if p.Filter != "" {
			v.Set("filter", p.Filter)
		}
		if explicit {
			v.Set("columns", p.Columns)
		}
		if view != tracking.ActiveOnly {
			v.Set("view", p.View)
		}
		if p.MaxRes != defaultRunsPerPage {
			v.Set("max_results", strconv.Itoa(p.MaxRes))
		}
		return v
	}
	// The store's default order is newest first; the Created header says
	// so, and its first click then sorts oldest first.
	shown := orderBy
	if len(shown) == 0 {
		shown = []string{"attributes.start_time DESC"}
	}
	sortLink := func(key string) (string, string) {
		cur := sortState(shown, key)
		v := state()
		v.Set("order_by", nextOrder(cur, key))
		return h.link("/experiments/"+url.PathEscape(exp.ID), v), cur
	}
	for _, a := range attrColumns {
		head := columnHead{Label: a.label}
		if a.key != "" {
			head.SortURL, head.Sort = sortLink(a.key)
		}
		p.Heads = append(p.Heads, head)
	}
	for _, c := range cols {
		head := columnHead{Label: c.Key, Kind: c.Kind}
		head.SortURL, head.Sort = sortLink(c.OrderKey())
		p.Heads = append(p.Heads, head)
	}
	for i := range runs {
		run := &runs[i]
		row := runRow{
			ID: run.Info.RunID, Name: run.Info.RunName, URL: h.runLink(run.Info.RunID),
			Status: string(run.Info.Status), Start: formatTime(run.Info.StartTime),
			Duration: formatDuration(run.Info.StartTime, run.Info.EndTime),
			User:     run.Info.UserID,
		}
		if row.Name == "" {
			row.Name = run.Info.RunID
		}
		for _, c := range cols {
			row.Cells = append(row.Cells, cellValue(run, c))
		}
		p.Rows = append(p.Rows, row)
	}
	v := state()
	for _, o := range orderBy {
		v.Add("order_by", o)
	}
	if q.Get("page_token") != "" {
		p.FirstURL = h.link("/experiments/"+url.PathEscape(exp.ID), v)
	}
	if next != "" {
		v.Set("page_token", next)
		p.NextURL = h.link("/experiments/"+url.PathEscape(exp.ID), v)
	}
	h.render(w, r, status, "experiment", layout{
		Title:  exp.Name,
		Crumbs: []crumb{{Label: exp.Name}},
		Page:   p,
	})
}
