#!/usr/bin/env bash
# Build the engines that come as Go modules, into .cache/engines/bin/ (git-ignored):
#   otelcol-holysheep     - our OpenTelemetry Collector distribution, from collector/builder-config.yaml with the
#                           official builder (go.opentelemetry.io/collector/cmd/builder) of the same release
#   prometheus3, promtool3 - Prometheus 3 and its promtool, from the module pinned in engines/prometheus3/go.mod
#
# Usage: scripts/build-go-engines.sh [collector|prometheus3|all]   (default: all)
#
# Reuses Go's own module and build caches (go env GOMODCACHE / GOCACHE), so a second build is quick; a binary whose
# recipe (manifest, go.mod/go.sum, Go version) is unchanged is kept without running go at all. Modules come from the
# machine's Go configuration (go env GOPROXY); set GOPROXY / GOFLAGS in the environment to override it.
#
# Environment:
#   ENGINES_DIR   where to install (default: <repo>/.cache/engines)
#   GO            the go command (default: go on PATH)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engines=${ENGINES_DIR:-$repo/.cache/engines}
bin=$engines/bin
go=${GO:-go}
what=${1:-all}

say() { echo "build-go-engines: $*"; }
die() {
    echo "build-go-engines: ERROR: $*" >&2
    exit 1
}

command -v "$go" >/dev/null || die "go not found on PATH: install Go 1.26 or newer (https://go.dev/doc/install), or set GO"
go_version=$("$go" env GOVERSION)
mkdir -p "$bin"

# A recipe's fingerprint: its files and the Go version. Same fingerprint and a binary that runs -> nothing to do.
fingerprint() { { echo "$go_version"; cat "$@"; } | sha256sum | cut -d' ' -f1; }
up_to_date() { # stamp-file fingerprint binary...
    local stamp=$1 sum=$2
    shift 2
    [[ -f $stamp && $(cat "$stamp") == "$sum" ]] || return 1
    for b in "$@"; do "$b" --version >/dev/null 2>&1 || return 1; done
}

build_collector() {
    local manifest=$repo/collector/builder-config.yaml
    local out=$engines/otelcol-holysheep-build
    local stamp=$bin/.otelcol-holysheep.recipe
    local sum release
    sum=$(fingerprint "$manifest")
    if up_to_date "$stamp" "$sum" "$bin/otelcol-holysheep"; then
        say "otelcol-holysheep up to date: $("$bin/otelcol-holysheep" --version)"
        return
    fi
    release=$(awk '/^dist:/ {d = 1; next} /^[^ #]/ {d = 0} d && $1 == "version:" {print $2; exit}' "$manifest")
    [[ -n $release ]] || die "no dist.version in $manifest"
    local start
    start=$(date +%s)
    say "installing the Collector builder v$release"
    GOBIN=$engines/tools "$go" install "go.opentelemetry.io/collector/cmd/builder@v$release"
    # The manifest's output_path is replaced by a folder in the cache; everything else is used as committed.
    mkdir -p "$out"
    sed "s|^\(  output_path:\).*|\1 $out|" "$manifest" >"$engines/builder-config.yaml"
    say "building otelcol-holysheep $release (a first build downloads and compiles a few hundred modules: minutes)"
    "$engines/tools/builder" --config "$engines/builder-config.yaml" >"$engines/otelcol-holysheep-build.log" 2>&1 || {
        tail -n 40 "$engines/otelcol-holysheep-build.log" >&2
        die "the Collector build failed (full log: $engines/otelcol-holysheep-build.log)"
    }
    install -m 0755 "$out/otelcol-holysheep" "$bin/otelcol-holysheep"
    echo "$sum" >"$stamp"
    say "built $bin/otelcol-holysheep in $(($(date +%s) - start)) s: $("$bin/otelcol-holysheep" --version)"
}

build_prometheus3() {
    local module=$repo/engines/prometheus3
    local stamp=$bin/.prometheus3.recipe
    local sum start
    sum=$(fingerprint "$module/go.mod" "$module/go.sum")
    if up_to_date "$stamp" "$sum" "$bin/prometheus3" "$bin/promtool3"; then
        say "prometheus3 up to date: $("$bin/prometheus3" --version 2>&1 | head -n1)"
        return
    fi
    start=$(date +%s)
    local modver version
    modver=$(awk '$1 == "github.com/prometheus/prometheus" {print $2}' "$module/go.mod")
    [[ $modver =~ ^v0\.3([0-9][0-9])\.([0-9]+)$ ]] || die "unexpected Prometheus module version '$modver' in $module/go.mod"
    version=3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]} # module v0.316.0 is Prometheus 3.16.0
    say "building Prometheus $version (module $modver)"
    local tmp=$engines/prometheus3-build
    mkdir -p "$tmp"
    # -mod=readonly: build exactly what go.mod/go.sum pin, never edit them. The version stamp is what the release
    # build sets (--version prints it).
    (cd "$module" && "$go" build -mod=readonly -trimpath -o "$tmp/" \
        -ldflags "-X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Revision=module-$modver" \
        github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool) ||
        die "the Prometheus 3 build failed (see above)"
    install -m 0755 "$tmp/prometheus" "$bin/prometheus3"
    install -m 0755 "$tmp/promtool" "$bin/promtool3"
    rm -rf "$tmp"
    echo "$sum" >"$stamp"
    say "built $bin/prometheus3 and promtool3 in $(($(date +%s) - start)) s: $("$bin/prometheus3" --version 2>&1 | head -n1)"
}

case $what in
collector) build_collector ;;
prometheus3) build_prometheus3 ;;
all)
    build_collector
    build_prometheus3
    ;;
*) die "unknown engine '$what': collector, prometheus3 or all" ;;
esac
