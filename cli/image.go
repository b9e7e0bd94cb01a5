package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"corral/agent/image"
)

// defaultAgentDataDir is the node agent's data directory: /var/lib/corral/agent
// as root, ~/.corral/agent otherwise.
func defaultAgentDataDir() string {
	if os.Geteuid() != 0 {
		home, _ := os.UserHomeDir()
		return filepath.Join(home, ".corral", "agent")
	}
	return "/var/lib/corral/agent"
}

// agentContainerdSocket is where the agent's containerd listens.
func agentContainerdSocket(dataDir string) string {
	return filepath.Join(dataDir, "containerd", "containerd.sock")
}

func newImageCommand() *cobra.Command {
	var dataDir, address, ctrPath, namespace string
	opts := func() (image.ImportOptions, error) {
		if address != "" && dataDir != "" {
			return image.ImportOptions{}, errors.New("pass --data-dir or --address, not both")
		}
		if address == "" {
			d := dataDir
			if d == "" {
				d = defaultAgentDataDir()
			}
			address = agentContainerdSocket(d)
		}
		return image.ImportOptions{CtrPath: ctrPath, Address: address, Namespace: namespace}, nil
	}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images of the node agent's containerd",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "", "agent data directory; containerd's socket is <data-dir>/containerd/containerd.sock (default "+defaultAgentDataDir()+")")
	pf.StringVar(&address, "address", "", "containerd socket (instead of --data-dir)")
	pf.StringVar(&ctrPath, "ctr", image.DefaultCtrPath, "ctr binary")
	pf.StringVarP(&namespace, "namespace", "n", image.CRINamespace, "containerd namespace (the CRI plugin sees k8s.io only)")

	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Import image tarballs (OCI layout or docker save) and unpack them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			for _, f := range args {
				if err := image.Import(cmd.Context(), o, f); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "imported", f)
			}
			return nil
		},
	}, &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := opts()
			if err != nil {
				return err
			}
			imgs, err := image.List(cmd.Context(), o)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REF\tDIGEST")
			for _, img := range imgs {
				fmt.Fprintf(tw, "%s\t%s\n", img.Ref, img.Digest)
			}
			return tw.Flush()
		},
	})
	return cmd
}
