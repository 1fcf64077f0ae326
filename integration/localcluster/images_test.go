package localcluster

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func layerFile(t *testing.T, applets []string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := writeLayer(&buf, busyboxEntries([]byte("#!fake busybox"), applets)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBusyboxLayer(t *testing.T) {
	p := layerFile(t, []string{"sh", "sleep", "busybox", "chroot"})
	f, _ := os.Open(p)
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d gid %d mtime %v; want root and the epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		switch h.Name {
		case "bin/sh":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
				t.Errorf("bin/sh: %+v", h)
			}
		case "bin/busybox":
			if h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
				t.Errorf("bin/busybox: %+v", h)
			}
		case "tmp/":
			if h.Mode != 0o1777 {
				t.Errorf("tmp mode %o", h.Mode)
			}
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	for _, want := range []string{"bin/", "bin/busybox", "bin/chroot", "bin/sh", "bin/sleep", "etc/passwd", "etc/group", "tmp/", "proc/", "sys/", "dev/"} {
		if !slices.Contains(names, want) {
			t.Errorf("layer lacks %s: %v", want, names)
		}
	}
	if slices.Index(names, "bin/busybox") != slices.IndexFunc(names, func(n string) bool { return n == "bin/busybox" }) {
		t.Error("bin/busybox twice")
	}
}

// The same content must give the same digests everywhere: images are
// rebuilt at every Up, and tests may compare digests.
func TestImagesAreReproducible(t *testing.T) {
	a, err := busyboxImage(layerFile(t, []string{"sh", "sleep"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := busyboxImage(layerFile(t, []string{"sleep", "sh"}))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("digests differ: %s %s", da, db)
	}
	cf, _ := a.ConfigFile()
	if cf.OS != "linux" || !slices.Equal(cf.Config.Cmd, []string{"sh"}) || cf.Config.Env[0] != imagePATH {
		t.Errorf("busybox config: %+v", cf.Config)
	}
	mt, _ := a.MediaType()
	if mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("media type %s", mt)
	}
	p, err := pauseImage(a)
	if err != nil {
		t.Fatal(err)
	}
	pcf, _ := p.ConfigFile()
	if !slices.Equal(pcf.Config.Entrypoint, []string{"/bin/sleep"}) || !slices.Equal(pcf.Config.Cmd, []string{"2147483647"}) {
		t.Errorf("pause config: %+v", pcf.Config)
	}
}

func TestNewImage(t *testing.T) {
	base, err := busyboxImage(layerFile(t, []string{"sh"}))
	if err != nil {
		t.Fatal(err)
	}
	img, err := NewImage(base, ImageSpec{
		Files:      map[string][]byte{"/usr/local/bin/hello": []byte("#!/bin/sh\necho hi\n")},
		Entrypoint: []string{"/usr/local/bin/hello"},
		Env:        []string{"A=b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2", len(layers))
	}
	cf, _ := img.ConfigFile()
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/hello"}) || !slices.Equal(cf.Config.Cmd, []string{"sh"}) ||
		!slices.Equal(cf.Config.Env, []string{imagePATH, "A=b"}) {
		t.Errorf("config: %+v", cf.Config)
	}
	tr := tar.NewReader(mutate.Extract(img))
	found := map[string]int64{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		found[h.Name] = h.Mode
	}
	if found["usr/local/bin/hello"] != 0o755 {
		t.Errorf("hello not in the image as an executable: %v", found)
	}
	if _, ok := found["usr/local"]; !ok {
		t.Errorf("parent directories missing: %v", found)
	}
}

func TestRegistryRef(t *testing.T) {
	for in, want := range map[string]string{
		BusyboxImage:                    "127.0.0.1:5000/library/busybox:1.37",
		"busybox":                       "127.0.0.1:5000/library/busybox:latest",
		PauseImage:                      "127.0.0.1:5000/pause:3.10.1",
		"quay.io/org/img:v1":            "127.0.0.1:5000/org/img:v1",
		"127.0.0.1:5000/x/y:z":          "127.0.0.1:5000/x/y:z",
		"ghcr.io/a/b@sha256:" + hex64(): "127.0.0.1:5000/a/b@sha256:" + hex64(),
	} {
		r, err := registryRef(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("registryRef(%s) = %s, want %s", in, r, want)
		}
	}
	if _, err := registryRef("example.com/x:1"); err == nil {
		t.Error("a registry the nodes do not mirror was accepted")
	}
}

func hex64() string { return "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }
