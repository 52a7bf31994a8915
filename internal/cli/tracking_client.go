package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/client"
	"github.com/mlship/mlship/tracking/modeluri"
)

// The commands that talk to a tracking server (experiments, runs,
// artifacts, models log) share --tracking-uri, which defaults to
// MLFLOW_TRACKING_URI as in MLflow's CLI.

type trackingFlags struct {
	uri string
}

func (o *trackingFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.uri, "tracking-uri", "", "tracking server, http(s)://host:port (env MLFLOW_TRACKING_URI)")
}

// trackingClient is a client of the tracking server at uri (else
// MLFLOW_TRACKING_URI), with MLflow's client environment (auth, retries,
// timeout), or of a store such as sqlite:///mlflow.db opened in-process
// (tracking_local.go). Close it when done.
func (d *deps) trackingClient(ctx context.Context, uri string) (*trackingConn, error) {
	if uri == "" {
		uri = d.env.get("MLFLOW_TRACKING_URI")
	}
	if uri == "" {
		return nil, client.ErrNoTrackingURI
	}
	if !isServerURI(uri) {
		return d.localTracking(ctx, uri)
	}
	c, err := client.New(uri, client.WithEnv(d.env.get), client.WithLogger(d.logger()))
	if err != nil {
		return nil, err
	}
	return &trackingConn{Client: c}, nil
}

// withTracking calls fn with a client of the tracking server or store at
// uri (see trackingClient) and closes it afterwards. A failed close is
// reported when fn succeeded: for a local store it may be the last write.
func (d *deps) withTracking(ctx context.Context, uri string, fn func(*trackingConn) error) (err error) {
	c, err := d.trackingClient(ctx, uri)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing tracking store: %w", cerr)
		}
	}()
	return fn(c)
}

// resolveModel turns a runs:/<run_id>/<path> model reference into the
// local copy in the cache (downloading it on first use) and leaves any
// other reference as it is. Commands that take a model call it before
// loading, so every one of them accepts runs:/ URIs.
func (d *deps) resolveModel(ctx context.Context, ref string) (string, error) {
	if !modeluri.IsRunsURI(ref) {
		return ref, nil
	}
	c, err := d.trackingClient(ctx, "")
	if err != nil {
		return "", fmt.Errorf("model %s: %w", ref, err)
	}
	defer c.Close()
	cache := d.env.cacheDir()
	local, err := modeluri.Resolve(ctx, c, ref, cache)
	if err != nil {
		return "", err
	}
	d.logger().Debug("model resolved", "uri", ref, "path", local, "tracking_uri", c.TrackingURI())
	return local, nil
}

// parseViewType reads MLflow CLI's --view values (active_only,
// deleted_only, all, any case).
func parseViewType(s string) (tracking.ViewType, error) {
	v, err := tracking.ParseViewType(s)
	if err != nil {
		return 0, fmt.Errorf("--view must be active_only, deleted_only or all, not %q", s)
	}
	return v, nil
}

// printJSON writes v indented, as MLflow's CLI prints JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printTable writes rows under headers, columns aligned.
func printTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	dashes := make([]string, len(headers))
	for i, h := range headers {
		dashes[i] = strings.Repeat("-", len(h))
	}
	fmt.Fprintln(tw, strings.Join(dashes, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// msTime formats ms since the epoch as MLflow's CLI does (local time).
func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05")
}

// jsonNumber is v for encoding/json, which refuses NaN and infinities:
// those print as the strings Python's json module would print unquoted.
func jsonNumber(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return v
}
