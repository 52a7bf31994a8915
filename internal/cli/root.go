// Package cli is mlship's command line: a cobra tree whose commands bind
// flags and environment, then call library packages. It is the only package
// that reads flags and environment variables, and nothing imports it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/flavors"
	_ "github.com/mlship/mlship/flavors/builtin" // register compiled-in flavors
)

// version is set at build time with -ldflags "-X .../internal/cli.version=v1.2.3".
var version = ""

// Version is mlship's version: the build-time value, else the module
// version or VCS revision recorded by the Go toolchain.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return strings.TrimPrefix(v, "v")
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "0.1.0-dev+" + s.Value[:12]
			}
		}
	}
	return "0.1.0-dev"
}

// deps are what commands need from the outside world.
type deps struct {
	stdout, stderr io.Writer
	env            environ
	registry       *flavors.Registry
	logLevel       *string
	logFormat      *string
}

func (d *deps) logger() *slog.Logger {
	level := slog.LevelInfo
	lv := *d.logLevel
	if lv == "" {
		lv = d.env.get("MLSHIP_LOG_LEVEL")
	}
	switch strings.ToLower(lv) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	format := *d.logFormat
	if format == "" {
		format = d.env.get("MLSHIP_LOG_FORMAT")
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(d.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(d.stderr, opts))
}

func (d *deps) loadOptions(threads int) flavors.LoadOptions {
	return flavors.LoadOptions{
		Logger:   d.logger(),
		Threads:  threads,
		Getenv:   d.env.get,
		CacheDir: d.env.cacheDir(),
	}
}

// New builds the command tree.
func New(stdout, stderr io.Writer, env func(string) string) *cobra.Command {
	var level, format string
	d := &deps{stdout: stdout, stderr: stderr, env: env, registry: flavors.Default, logLevel: &level, logFormat: &format}
	root := &cobra.Command{
		Use:   "mlship",
		Short: "Serve and package MLflow models, fast",
		Long: "mlship loads MLflow model directories (an MLmodel descriptor plus files) and serves them\n" +
			"with MLflow's scoring protocol, in-process for native flavors such as ONNX.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&level, "log-level", "", "log level: debug, info, warn, error (env MLSHIP_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&format, "log-format", "", "log format: text or json (env MLSHIP_LOG_FORMAT)")
	root.AddCommand(
		NewCmdServe(d),
		NewCmdModels(d),
		NewCmdInspect(d),
		NewCmdVersion(d),
		NewCmdEnv(d),
		NewCmdBench(d),
		NewCmdPredict(d),
		NewCmdGenerateDockerfile(d), NewCmdK8s(d),
		NewCmdAzureML(d),
		withDockerBuilder(NewCmdBuildDocker(d), d),
		NewCmdSageMaker(d),
		NewCmdExperiments(d), NewCmdRuns(d), NewCmdArtifacts(d),
		NewCmdImportMlruns(d),
		NewCmdServer(d),
		NewCmdRun(d),
	)
	return root
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := New(stdout, stderr, nil)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		fmt.Fprintln(stderr, "mlship: "+err.Error())
		return 1
	}
	return 0
}

// NewCmdVersion prints the version.
func NewCmdVersion(d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mlship's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(d.stdout, "mlship %s\n", Version())
			return nil
		},
	}
}

// NewCmdEnv lists the environment variables mlship reads.
func NewCmdEnv(d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "env",
		Short: "List the environment variables mlship reads, with their current values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, v := range Env {
				fmt.Fprintf(d.stdout, "%-40s %s\n    %s\n", v.Name, quoteOrUnset(d.env.get(v.Name)), v.Description)
			}
			return nil
		},
	}
}

func quoteOrUnset(v string) string {
	if v == "" {
		return "(unset)"
	}
	return fmt.Sprintf("%q", v)
}
