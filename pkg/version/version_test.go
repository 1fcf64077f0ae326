package version

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGet(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{
			name:    "stamped by ldflags wins over build info",
			version: "v1.2.3", commit: "abc", date: "2026-05-06T00:00:00Z",
			bi:   &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs},
			want: Info{Version: "v1.2.3", Commit: "abc", Date: "2026-05-06T00:00:00Z"},
		},
		{
			name:    "go install of a tagged module",
			version: "dev",
			bi:      &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}},
			want:    Info{Version: "v0.1.0"},
		},
		{
			name:    "local build in a dirty checkout",
			version: "dev",
			bi:      &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			want:    Info{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567-dirty", Date: "2026-01-02T03:04:05Z"},
		},
		{
			name:    "goreleaser could not read git",
			version: "v0.0.1-snapshot+none", commit: "none", date: "0001-01-01T00:00:00Z",
			bi:   &debug.BuildInfo{Settings: vcs[:2]},
			want: Info{Version: "v0.0.1-snapshot+none", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-01-02T03:04:05Z"},
		},
		{
			name: "nothing known",
			want: Info{Version: "dev"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
			Version, Commit, Date = tc.version, tc.commit, tc.date
			tc.want.GoVersion, tc.want.Platform = runtime.Version(), platform
			if diff := cmp.Diff(tc.want, get(tc.bi)); diff != "" {
				t.Errorf("get() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	tests := []struct {
		info Info
		want string
	}{
		{Info{Version: "dev"}, "kubectl node-shell dev"},
		{Info{Version: "v0.1.0", Commit: "0123456789abcdef0123"}, "kubectl node-shell v0.1.0 (commit 0123456789ab)"},
		{
			Info{Version: "v0.1.0", Commit: "0123456789abcdef0123-dirty", Date: "2026-01-02T03:04:05Z"},
			"kubectl node-shell v0.1.0 (commit 0123456789ab-dirty, 2026-01-02T03:04:05Z)",
		},
	}
	for _, tc := range tests {
		if got := tc.info.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.info, got, tc.want)
		}
	}
}
