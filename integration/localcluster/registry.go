package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// ServeRegistry runs the cluster's image registry until ctx is done: the
// in-process registry of go-containerregistry, blobs on disk under dir,
// manifests in memory (so Up pushes the base images each time). It is what
// the hidden `localcluster registry` subcommand runs, as a daemon of the
// cluster; requests are logged to logw.
func ServeRegistry(ctx context.Context, addr, dir string, logw io.Writer) error {
	// The disk handler creates its upload files in dir and fails every
	// blob PUT if dir does not exist.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating registry directory: %w", err)
	}
	lg := log.New(logw, "", log.LstdFlags|log.Lmicroseconds)
	h := registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)), registry.Logger(lg))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	lg.Printf("registry serving on %s, blobs in %s", addr, dir)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}

// waitRegistry waits until the registry answers /v2/.
func waitRegistry(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+RegistryAddr+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("registry on %s did not answer within %s: %w", RegistryAddr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	registryExeOnce sync.Once
	registryExe     string
	registryExeErr  error
)

// registryExecutable returns a program that implements the hidden
// `registry` subcommand. In the localcluster command that is the command
// itself. A test binary does not have the subcommand, so the command is
// built once with `go build` (the test runs inside the module) into the
// cache, and rebuilt when the test binary is newer than it.
func registryExecutable(ctx context.Context, log io.Writer) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this program: %w", err)
	}
	if !testing.Testing() {
		return self, nil
	}
	registryExeOnce.Do(func() {
		registryExe, registryExeErr = buildRegistryCommand(ctx, self, log)
	})
	return registryExe, registryExeErr
}

const commandPackage = "github.com/kubectl-node-shell/kubectl-node-shell/integration/cmd/localcluster"

func buildRegistryCommand(ctx context.Context, testBinary string, log io.Writer) (string, error) {
	cache, err := cacheRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(cache, "bin", "localcluster", "localcluster")
	if fo, err := os.Stat(out); err == nil {
		if ft, err := os.Stat(testBinary); err == nil && fo.ModTime().After(ft.ModTime()) {
			return out, nil
		}
	}
	gobin, err := goTool()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "localcluster: building the localcluster command (for its registry) into %s\n", out)
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", tmp, commandPackage)
	if outb, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %w\n%s", commandPackage, err, outb)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("installing %s: %w", out, err)
	}
	return out, nil
}
