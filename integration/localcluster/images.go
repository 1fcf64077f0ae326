package localcluster

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// busyboxPath is Debian's static busybox (package busybox-static): it runs
// in an empty root file system, so a single-layer image needs nothing else.
const busyboxPath = "/bin/busybox"

// imagePATH is the PATH of every image.
const imagePATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// tarEntry is one file of a layer. Owner (root) and mtime (the epoch) are
// fixed so that the same content gives the same layer digest on every
// machine.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	linkname string
	data     []byte
}

// writeLayer writes entries, sorted by name, as a tar stream.
func writeLayer(w io.Writer, entries []tarEntry) error {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.typ, Name: e.name, Linkname: e.linkname, Mode: e.mode,
			Size: int64(len(e.data)), ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing tar header for %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("writing %s: %w", e.name, err)
		}
	}
	return tw.Close()
}

// busyboxEntries is the content of the busybox layer: the binary, a symlink
// per applet, the usual top-level directories and a minimal passwd/group.
func busyboxEntries(busybox []byte, applets []string) []tarEntry {
	entries := []tarEntry{
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, data: busybox},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{name: "etc/group", typ: tar.TypeReg, mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "root", "sys", "var"} {
		entries = append(entries, tarEntry{name: d + "/", typ: tar.TypeDir, mode: 0o755})
	}
	seen := map[string]bool{"busybox": true}
	for _, a := range applets {
		if a == "" || strings.Contains(a, "/") || seen[a] {
			continue
		}
		seen[a] = true
		entries = append(entries, tarEntry{name: "bin/" + a, typ: tar.TypeSymlink, mode: 0o777, linkname: "busybox"})
	}
	return entries
}

// buildBusyboxLayer writes the busybox layer tar to path, unless it exists.
func buildBusyboxLayer(ctx context.Context, path string, log io.Writer) error {
	if built(path) {
		return nil
	}
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("reading %s (package busybox-static): %w", busyboxPath, err)
	}
	out, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	fmt.Fprintf(log, "localcluster: building the busybox image layer from %s\n", busyboxPath)
	var buf bytes.Buffer
	if err := writeLayer(&buf, busyboxEntries(bin, strings.Fields(string(out)))); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o644)
}

// layerFromTar turns an uncompressed tar file into a gzip-compressed OCI
// layer (compressed once, at gzip's fastest level).
func layerFromTar(path string) (v1.Layer, error) {
	l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", path, err)
	}
	return l, nil
}

// imageWith returns base plus layers, with its config changed by edit.
func imageWith(base v1.Image, layers []v1.Layer, edit func(*v1.Config)) (v1.Image, error) {
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	edit(&cf.Config)
	return mutate.ConfigFile(img, cf)
}

// busyboxImage is BusyboxImage: the layer on an empty OCI base, PATH set,
// cmd sh.
func busyboxImage(layerPath string) (v1.Image, error) {
	layer, err := layerFromTar(layerPath)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	return imageWith(base, []v1.Layer{layer}, func(c *v1.Config) {
		c.Env = []string{imagePATH}
		c.Cmd = []string{"sh"}
	})
}

// pauseImage is PauseImage: busybox sleeping forever.
func pauseImage(busybox v1.Image) (v1.Image, error) {
	return imageWith(busybox, nil, func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sleep"}
		c.Cmd = []string{"2147483647"}
	})
}

// ImageSpec describes an image built on BusyboxImage, for tests that need
// an image of their own.
type ImageSpec struct {
	// Files are added in one more layer: absolute path to content, mode
	// 0755 (so scripts can be executed), parent directories created.
	Files map[string][]byte
	// Entrypoint and Cmd replace the base image's when set.
	Entrypoint, Cmd []string
	// Env is appended to the base image's (which sets PATH).
	Env []string
}

// NewImage returns base with spec applied.
func NewImage(base v1.Image, spec ImageSpec) (v1.Image, error) {
	var layers []v1.Layer
	if len(spec.Files) > 0 {
		dirs := map[string]bool{}
		var entries []tarEntry
		for p, data := range spec.Files {
			clean := strings.TrimPrefix(path.Clean("/"+p), "/")
			entries = append(entries, tarEntry{name: clean, typ: tar.TypeReg, mode: 0o755, data: data})
			for d := path.Dir(clean); d != "." && !dirs[d]; d = path.Dir(d) {
				dirs[d] = true
				entries = append(entries, tarEntry{name: d + "/", typ: tar.TypeDir, mode: 0o755})
			}
		}
		var buf bytes.Buffer
		if err := writeLayer(&buf, entries); err != nil {
			return nil, err
		}
		data := buf.Bytes()
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, fmt.Errorf("building the files layer: %w", err)
		}
		layers = append(layers, layer)
	}
	return imageWith(base, layers, func(c *v1.Config) {
		if spec.Entrypoint != nil {
			c.Entrypoint = spec.Entrypoint
		}
		if spec.Cmd != nil {
			c.Cmd = spec.Cmd
		}
		c.Env = append(c.Env, spec.Env...)
	})
}

// registryRef maps an image reference as pods use it
// (docker.io/library/busybox:1.37) to where it lives in the local registry
// (127.0.0.1:5000/library/busybox:1.37): the path containerd asks a mirror
// for. Only hosts in mirroredRegistries resolve to the local registry.
// Repositories of different hosts share one namespace there
// (docker.io/x/y and quay.io/x/y are the same image).
func registryRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	mirrored := false
	for _, h := range mirroredRegistries {
		mirrored = mirrored || h == host
	}
	if !mirrored {
		return nil, fmt.Errorf("image %q: registry %s is not served by the local cluster (only %s)", ref, host, strings.Join(mirroredRegistries, ", "))
	}
	local := RegistryAddr + "/" + r.Context().RepositoryStr()
	switch r := r.(type) {
	case name.Tag:
		return name.NewTag(local + ":" + r.TagStr())
	case name.Digest:
		return name.NewDigest(local + "@" + r.DigestStr())
	}
	return nil, fmt.Errorf("image reference %q: neither a tag nor a digest", ref)
}

// pushImage pushes img to the local registry under ref's local name.
func pushImage(ctx context.Context, ref string, img v1.Image) error {
	r, err := registryRef(ref)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s to the local registry: %w", ref, err)
	}
	return nil
}

// pushBaseImages pushes BusyboxImage, BusyboxLatestImage and PauseImage
// (plus pause:latest). The registry keeps manifests in memory, so this
// happens at every Up; it takes a few tens of milliseconds.
func pushBaseImages(ctx context.Context, layerPath string) error {
	bb, err := busyboxImage(layerPath)
	if err != nil {
		return err
	}
	pause, err := pauseImage(bb)
	if err != nil {
		return err
	}
	for ref, img := range map[string]v1.Image{
		BusyboxImage: bb, BusyboxLatestImage: bb,
		PauseImage: pause, "registry.k8s.io/pause:latest": pause,
	} {
		if err := pushImage(ctx, ref, img); err != nil {
			return err
		}
	}
	return nil
}
