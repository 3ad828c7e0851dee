#!/usr/bin/env bash
# Fetch the real metric engines the end-to-end tests run against, into .cache/engines/bin/ (git-ignored):
#   prometheus, promtool  - Prometheus 2.53.x from Debian 13 (trixie); Debian 12 ships 2.42.
#   victoria-metrics      - VictoriaMetrics single-node from trixie (1.112), which ingests OTLP/HTTP metrics.
# Then, when Go is on PATH, builds the engines that come as Go modules (scripts/build-go-engines.sh):
#   otelcol-holysheep     - our OpenTelemetry Collector distribution (collector/builder-config.yaml)
#   prometheus3, promtool3 - Prometheus 3 (engines/prometheus3/go.mod)
# Without Go those are skipped with a note, and the tests that need them skip and say so.
# Idempotent: a binary already in .cache/engines/bin is kept. Needs only apt-get and dpkg (Debian/Ubuntu, as root or
# any user: nothing is installed system-wide). The apt state used is throw-away, under .cache/engines/apt, and the
# machine's own apt configuration and package lists are left untouched.
#
# Environment:
#   ENGINES_DIR      where to install (default: <repo>/.cache/engines)
#   DEBIAN_MIRROR    Debian archive to fetch from (default: the archive this machine's own apt sources use for its
#                    Debian release, read from /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources})
#   ENGINES_SUITE    suite to fetch from (default: trixie)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engines=${ENGINES_DIR:-$repo/.cache/engines}
bin=$engines/bin
mirror=${DEBIAN_MIRROR:-}
suite=${ENGINES_SUITE:-trixie}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { echo "fetch-engines: $*"; }
die() {
    echo "fetch-engines: ERROR: $*" >&2
    echo "fetch-engines: the end-to-end tests need prometheus, promtool and victoria-metrics in $bin" >&2
    echo "fetch-engines: (or on PATH); install them by hand there, or fix the cause above and re-run this script." >&2
    exit 1
}

# The Debian archive URI this machine's apt sources use for its own release (the suite named VERSION_CODENAME in
# /etc/os-release; security and -updates entries are skipped), from one-line .list files and deb822 .sources files.
machine_debian_mirror() {
    local codename files=()
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || return 1
    [[ -r /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [[ -r $f ]] && files+=("$f"); done
    ((${#files[@]})) || return 1
    awk -v want="$codename" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no")
                for (i = 1; i <= nsuites; i++) if (suites[i] == want && uris != "") { split(uris, u, " "); print u[1]; found = 1; exit }
            types = uris = enabled = ""; nsuites = 0
        }
        FNR == 1 { flush() }
        /^[[:space:]]*#/ { next }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[[:space:]]*$/) { flush(); next }
            key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
            if (key == "types") types = $0
            else if (key == "uris") uris = $0
            else if (key == "suites") nsuites = split($0, suites, " ")
            else if (key == "enabled") enabled = tolower($0)
            next
        }
        $1 == "deb" {
            line = $0; sub(/\[[^]]*\]/, "", line); n = split(line, f, " ")
            if (n >= 3 && f[3] == want) { print f[2]; found = 1; exit }
        }
        END { if (!found) flush(); if (!found) exit 1 }
    ' "${files[@]}" | sed 's:/*$::' | grep .
}

# binary name -> Debian package that ships it
declare -A pkg_of=([prometheus]=prometheus [promtool]=promtool [victoria-metrics]=victoria-metrics)
wanted=(prometheus promtool victoria-metrics)

# prometheus/promtool take --version, victoria-metrics -version; both exit 0.
version_of() {
    local v
    v=$({ "$1" --version 2>&1 || "$1" -version 2>&1; } | head -n1)
    echo "${v:-no version string: the Debian build prints none}"
}
runs() { "$1" --version >/dev/null 2>&1 || "$1" -version >/dev/null 2>&1; }

mkdir -p "$bin"
missing=()
for b in "${wanted[@]}"; do
    if [[ -x $bin/$b ]] && runs "$bin/$b"; then
        say "$b already present: $bin/$b ($(version_of "$bin/$b"))"
    else
        missing+=("$b")
    fi
done

go_engines() {
    if command -v "${GO:-go}" >/dev/null; then
        bash "$repo/scripts/build-go-engines.sh" all
    else
        say "go not found: not building otelcol-holysheep and prometheus3 (the Collector and Prometheus 3 tests will"
        say "skip); install Go 1.26+ and run 'make engines', or put an otelcol-contrib binary on PATH"
    fi
}

if ((${#missing[@]} == 0)); then
    say "Debian engines: nothing to do"
    go_engines
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this script fetches Debian packages (Debian/Ubuntu only)"
if [[ -z $mirror ]]; then
    mirror=$(machine_debian_mirror) ||
        die "no Debian archive found in this machine's apt sources; set DEBIAN_MIRROR to a Debian archive URL"
fi
command -v dpkg >/dev/null || die "dpkg not found"
[[ -r $keyring ]] || die "$keyring not readable: install the debian-archive-keyring package"

start=$(date +%s)
arch=$(dpkg --print-architecture)
apt_dir=$engines/apt
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs" "$apt_dir/unpack"
cat >"$apt_dir/sources.list" <<EOF
deb [arch=$arch signed-by=$keyring] $mirror $suite main
EOF
# Throw-away apt: our own sources, lists and cache; the sandbox user is root so downloads into a root-owned dir work.
apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::State::Status=/dev/null"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::Cache::Archives=$apt_dir/archives"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=1"
    -o "Acquire::Retries=3"
)
mkdir -p "$apt_dir/cache"

say "updating a private package list for $suite ($arch) from $mirror"
apt-get "${apt_opts[@]}" -qq update >"$apt_dir/update.log" 2>&1 ||
    { cat "$apt_dir/update.log" >&2; die "apt-get update against $mirror $suite failed (network? mirror?)"; }
# apt-get update can exit 0 after failing to fetch (it only warns): check a package index arrived.
if ! compgen -G "$apt_dir/lists/*_Packages*" >/dev/null; then
    cat "$apt_dir/update.log" >&2
    die "could not download the $suite package index from $mirror (network? mirror? set DEBIAN_MIRROR)"
fi

declare -A pkgs=() pkg_version=()
for b in "${missing[@]}"; do pkgs[${pkg_of[$b]}]=1; done
for p in "${!pkgs[@]}"; do
    version=$(apt-cache "${apt_opts[@]}" policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [[ -n $version && $version != "(none)" ]] || die "package $p not found in $suite"
    pkg_version[$p]=$version
    say "downloading $p $version"
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "$p" >"$apt_dir/download-$p.log" 2>&1) ||
        { cat "$apt_dir/download-$p.log" >&2; die "apt-get download $p failed"; }
    deb=$(find "$apt_dir/debs" -maxdepth 1 -name "${p}_*.deb" | head -n1)
    [[ -n $deb ]] || die "no .deb for $p after download"
    dpkg -x "$deb" "$apt_dir/unpack/$p" || die "dpkg -x $deb failed"
done

for b in "${missing[@]}"; do
    p=${pkg_of[$b]}
    src=$apt_dir/unpack/$p/usr/bin/$b
    [[ -f $src ]] || die "binary usr/bin/$b not found in package $p"
    install -m 0755 "$src" "$bin/$b.tmp"
    runs "$bin/$b.tmp" || { rm -f "$bin/$b.tmp"; die "$src does not run on this machine"; }
    mv -f "$bin/$b.tmp" "$bin/$b"
    say "installed $bin/$b from $p ${pkg_version[$p]} ($suite): $(version_of "$bin/$b")"
done

# Keep only the binaries: the .debs, lists and unpacked trees are not needed any more.
rm -rf "$apt_dir"
say "done in $(($(date +%s) - start)) s; $(du -sh "$bin" | cut -f1) in $bin"
go_engines
