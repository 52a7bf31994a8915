package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mlship/mlship/tracking/modeluri"
)

// NewCmdArtifacts is `mlship artifacts`, with `mlflow artifacts`'
// subcommands and flags.
func NewCmdArtifacts(d *deps) *cobra.Command {
	tf := &trackingFlags{}
	cmd := &cobra.Command{
		Use:   "artifacts",
		Short: "Upload, list and download run artifacts (mlflow artifacts ...)",
	}
	tf.AddFlags(cmd.PersistentFlags())

	var runID, artifactPath, local string
	logArtifact := &cobra.Command{
		Use:   "log-artifact -l FILE -r RUN_ID",
		Short: "Upload a local file to a run's artifacts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if st, err := os.Stat(local); err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("--local-file %s is not a file", local)
			}
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				if err := c.UploadArtifact(cmd.Context(), runID, local, artifactPath); err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "Logged artifact from local file %s to artifact_path=%s\n", local, artifactPath)
				return nil
			})
		},
	}
	logArtifact.Flags().StringVarP(&local, "local-file", "l", "", "the file to upload")
	_ = logArtifact.MarkFlagRequired("local-file")

	logArtifacts := &cobra.Command{
		Use:   "log-artifacts -l DIR -r RUN_ID",
		Short: "Upload the files of a local directory to a run's artifacts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if st, err := os.Stat(local); err != nil || !st.IsDir() {
				return fmt.Errorf("--local-dir %s is not a directory", local)
			}
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				if err := c.UploadArtifacts(cmd.Context(), runID, local, artifactPath); err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "Logged artifact from local dir %s to artifact_path=%s\n", local, artifactPath)
				return nil
			})
		},
	}
	logArtifacts.Flags().StringVarP(&local, "local-dir", "l", "", "the directory whose files to upload")
	_ = logArtifacts.MarkFlagRequired("local-dir")

	list := &cobra.Command{
		Use:   "list -r RUN_ID [-a PATH]",
		Short: "List a run's artifacts (one directory level) as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				infos, err := c.ListArtifacts(cmd.Context(), runID, artifactPath)
				if err != nil {
					return err
				}
				out := make([]map[string]any, len(infos))
				for i, f := range infos {
					out[i] = map[string]any{"path": f.Path, "is_dir": f.IsDir, "file_size": nil}
					if !f.IsDir {
						out[i]["file_size"] = f.Size
					}
				}
				return printJSON(d.stdout, out)
			})
		},
	}

	var artifactURI, dst string
	download := &cobra.Command{
		Use:   "download (-r RUN_ID [-a PATH] | -u runs:/RUN_ID/PATH) [-d DIR]",
		Short: "Download a run's artifact (a file or a directory) and print its local path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rid, p := runID, artifactPath
			if artifactURI != "" {
				if runID != "" || artifactPath != "" {
					return fmt.Errorf("give --artifact-uri or --run-id/--artifact-path, not both")
				}
				u, err := modeluri.Parse(artifactURI)
				if err != nil {
					return fmt.Errorf("--artifact-uri: %w (mlship downloads runs:/ URIs)", err)
				}
				rid, p = u.RunID, u.Path
			} else if rid == "" {
				return fmt.Errorf("give --run-id or --artifact-uri")
			}
			out := dst
			if out == "" {
				var err error
				if out, err = os.MkdirTemp("", "mlship-artifacts-"); err != nil {
					return err
				}
			}
			err := d.withTracking(cmd.Context(), tf.uri, func(c *trackingConn) error {
				localPath, err := c.DownloadArtifacts(cmd.Context(), rid, p, out)
				if err != nil {
					return err
				}
				fmt.Fprintln(d.stdout, localPath)
				return nil
			})
			if err != nil && dst == "" { // the temporary directory was only to hold the download
				os.RemoveAll(out)
			}
			return err
		},
	}
	download.Flags().StringVarP(&artifactURI, "artifact-uri", "u", "", "the artifact as a runs:/<run_id>/<path> URI, instead of --run-id and --artifact-path")
	download.Flags().StringVarP(&dst, "dst-path", "d", "", "local directory to download into (default: a new temporary directory)")

	for _, sub := range []*cobra.Command{logArtifact, logArtifacts, list, download} {
		sub.Flags().StringVarP(&runID, "run-id", "r", "", "id of the run")
		sub.Flags().StringVarP(&artifactPath, "artifact-path", "a", "", "path in the run's artifacts (default: the root)")
		if sub != download {
			_ = sub.MarkFlagRequired("run-id")
		}
	}
	cmd.AddCommand(logArtifact, logArtifacts, list, download)
	return cmd
}
