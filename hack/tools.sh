#!/usr/bin/env bash
# Prints the path of a release tool, building it first if it is not cached yet.
#
#   hack/tools.sh goreleaser   # github.com/goreleaser/goreleaser/v2
#   hack/tools.sh krew         # sigs.k8s.io/krew/cmd/krew
#   hack/tools.sh validate-krew-manifest   # krew's own manifest validator (same module)
#
# Tools are built from the Go module proxy with the local toolchain (no prebuilt binaries are
# downloaded) into $KNS_CACHE/bin/NAME-VERSION/ (default ~/.cache/kubectl-node-shell), the
# cache the local cluster harness uses too. A build goes to a temporary directory first, so an
# interrupted one never leaves a half-written binary under the final name.
set -euo pipefail

# Versions are pinned. goreleaser v2.16.0: v2.18 needs go 1.27, and v2.17's nfpm pulls a
# module (go-msix) the module proxy does not serve. krew v0.4.4: the proxy does not serve
# v0.4.5. Cold builds on 2 cores: goreleaser ~8 min, krew ~40 s; cached after that.
GORELEASER_VERSION=v2.16.0
KREW_VERSION=v0.4.4

case "${1:-}" in
goreleaser) mod=github.com/goreleaser/goreleaser/v2 pkg=$mod version=$GORELEASER_VERSION ;;
krew | validate-krew-manifest) mod=sigs.k8s.io/krew pkg=$mod/cmd/$1 version=$KREW_VERSION ;;
*)
	echo "usage: $0 goreleaser|krew|validate-krew-manifest" >&2
	exit 2
	;;
esac
name=$1

cache=${KNS_CACHE:-$HOME/.cache/kubectl-node-shell}
dir=$cache/bin/$name-$version
bin=$dir/$name
if [[ -x $bin ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "hack/tools.sh: building $name $version into $dir" >&2
start=$SECONDS
# The tool is built from a scratch module that requires it, not with `go install pkg@version`:
# that also asks the proxy for the module's version list (for deprecations), which the proxy
# refuses for krew. The scratch module's build list is the tool's own (nothing else is
# required), so the dependency versions are the ones its release was built with. GOFLAGS is
# replaced so flags meant for this repository never leak into the tool's build.
src=$cache/src/$name-$version
mkdir -p "$src"
printf 'module localbuild-%s\n\ngo 1.20\n\nrequire %s %s\n' "$name" "$mod" "$version" >"$src/go.mod"
(cd "$src" && env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off \
	go build -trimpath -ldflags "-s -w" -o "$tmp/$name" "$pkg" >&2)
mv "$tmp/$name" "$bin"
echo "hack/tools.sh: built $name $version in $((SECONDS - start))s" >&2
echo "$bin"
