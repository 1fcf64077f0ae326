// Command localcluster starts and stops a real multi-node Kubernetes cluster
// on this Linux machine (as root), for trying and testing kubectl node-shell:
//
//	localcluster build                       build/install what a cluster needs (cached)
//	localcluster up --nodes 3 --dir .cluster start a cluster; kubeconfig in .cluster/kubeconfig
//	localcluster status --dir .cluster       processes, memory, nodes
//	localcluster kubeconfig --dir .cluster --user alice --group dev -o alice.kubeconfig
//	localcluster down --dir .cluster         stop it and put the machine back as it was
//
// See docs/development.md and package integration/localcluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "localcluster",
		Short:         "A real multi-node Kubernetes cluster on this machine, for kubectl node-shell's tests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionsCommand(), newBuildCommand(), newUpCommand(), newDownCommand(), newStatusCommand(),
		newKubeconfigCommand(), newRegistryCommand())
	return root
}

func newVersionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "versions",
		Short: "Print the Kubernetes versions `make test-versions` proves: the oldest supported and the default (newest)",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Println(localcluster.OldestKubernetesVersion, localcluster.DefaultKubernetesVersion)
		},
	}
}

func newBuildCommand() *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "build [--kubernetes-version V]",
		Short: "Install the Debian packages and build the binaries a cluster needs (~10 min cold, cached)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if err := localcluster.Build(cmd.Context(), version, os.Stderr); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "localcluster: build complete in %.2f s\n", time.Since(start).Seconds())
			return nil
		},
	}
	addVersionFlag(cmd, &version)
	return cmd
}

// addVersionFlag is --kubernetes-version; its default comes from
// $KNS_KUBERNETES_VERSION at run time, so the help shows the built-in one.
func addVersionFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "kubernetes-version", "",
		fmt.Sprintf("Kubernetes release to build and run, 1.30 or newer (default $%s or %s)",
			localcluster.KubernetesVersionEnv, localcluster.DefaultKubernetesVersion))
}

func newUpCommand() *cobra.Command {
	var nodes int
	var dir, version string
	cmd := &cobra.Command{
		Use:   "up --nodes N --dir DIR [--kubernetes-version V]",
		Short: "Start a cluster and wait until every node is Ready; it keeps running after this command exits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := localcluster.Up(cmd.Context(), localcluster.Options{
				Nodes: nodes, Dir: dir, Log: os.Stderr, Detached: true, KubernetesVersion: version,
			})
			if err != nil {
				return err
			}
			fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig())
			fmt.Fprintf(os.Stderr, "localcluster: kubectl %s: %s\n", c.KubernetesVersion(), c.KubectlPath())
			return nil
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 1, "number of nodes (named 127.0.0.1 to 127.0.0.N)")
	cmd.Flags().StringVar(&dir, "dir", ".cluster", "directory for the kubeconfig and a link to the cluster's state")
	addVersionFlag(cmd, &version)
	return cmd
}

func newDownCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down --dir DIR",
		Short: "Stop the cluster and put the machine back as it was",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localcluster.DownDir(cmd.Context(), dir, os.Stderr)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".cluster", "directory given to up")
	return cmd
}

func newStatusCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show the cluster's processes, their memory (PSS) and the nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := localcluster.Attach(dir)
			if err != nil {
				return err
			}
			fmt.Printf("dir %s, state %s\n\n", c.Dir(), c.StateDir())
			st, err := c.Status(cmd.Context())
			st.Print(os.Stdout)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".cluster", "directory given to up")
	return cmd
}

func newKubeconfigCommand() *cobra.Command {
	var dir, user, out string
	var groups []string
	cmd := &cobra.Command{
		Use:   "kubeconfig --dir DIR --user USER [--group GROUP]... [-o FILE]",
		Short: "Write a kubeconfig for any user and groups (a client certificate from the cluster's CA)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := localcluster.Attach(dir)
			if err != nil {
				return err
			}
			path, err := c.MintKubeconfig(user, groups...)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = os.Stdout.Write(data)
				return err
			}
			return os.WriteFile(out, data, 0o600)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".cluster", "directory given to up")
	cmd.Flags().StringVar(&user, "user", "", "user name (the certificate's CN)")
	cmd.Flags().StringArrayVar(&groups, "group", nil, "group (the certificate's O); repeatable")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default: stdout)")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// newRegistryCommand is the cluster's image registry, run by Up as a daemon.
func newRegistryCommand() *cobra.Command {
	var addr, dir string
	cmd := &cobra.Command{
		Use:    "registry --addr ADDR --dir DIR",
		Short:  "Serve the cluster's image registry (started by up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localcluster.ServeRegistry(cmd.Context(), addr, dir, os.Stderr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", localcluster.RegistryAddr, "listen address")
	cmd.Flags().StringVar(&dir, "dir", "", "blob directory")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
