#!/usr/bin/env bash
# Re-fetch the charting library the HTML report (otel-holysheep report --format html) inlines into its page:
# Chart.js (MIT), the pinned version below, from the npm registry this machine's npm is configured with (`npm pack`),
# into src/otel_holysheep/report/vendor/ (package data: it ships inside the wheel, so the report needs no network).
# The file is checked against the sha256 recorded in src/otel_holysheep/report/vendor/SHA256SUMS (also checked by
# tests/report/test_report_html.py); to move to another version, change VERSION, run with --update, review the diff.
#
#   bash scripts/vendor-chart-library.sh            # fetch, verify against SHA256SUMS, install
#   bash scripts/vendor-chart-library.sh --update   # fetch, install, record the new sha256 in SHA256SUMS
set -euo pipefail

PACKAGE=chart.js
VERSION=4.5.1
FILES=(dist/chart.umd.min.js LICENSE.md)  # paths inside the npm package

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vendor=$repo/src/otel_holysheep/report/vendor
sums=$vendor/SHA256SUMS
update=${1:-}

say() { echo "vendor-chart-library: $*"; }
die() { echo "vendor-chart-library: ERROR: $*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found (it fetches the package: install Node.js and npm)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "npm pack $PACKAGE@$VERSION"
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >pack.log 2>&1) || { cat "$work/pack.log" >&2; die "npm pack failed"; }
tarball=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n1)
[[ -n $tarball ]] || die "npm pack produced no tarball"
tar -xzf "$tarball" -C "$work"
for f in "${FILES[@]}"; do [[ -f $work/package/$f ]] || die "$f not in $PACKAGE@$VERSION"; done
got=$(grep -o '"version": *"[^"]*"' "$work/package/package.json" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')
[[ $got == "$VERSION" ]] || die "npm pack gave $PACKAGE $got, not $VERSION"

mkdir -p "$vendor"
if [[ $update == --update ]]; then
    for f in "${FILES[@]}"; do cp "$work/package/$f" "$vendor/$(basename "$f")"; done
    (cd "$vendor" && sha256sum "${FILES[@]##*/}" >SHA256SUMS)
    echo "$PACKAGE $VERSION" >"$vendor/VERSION"
    say "recorded $PACKAGE $VERSION in $sums:"
    cat "$sums"
    exit 0
fi
[[ -f $sums ]] || die "$sums missing: run with --update once to record the checksums"
for f in "${FILES[@]}"; do cp "$work/package/$f" "$work/$(basename "$f")"; done
(cd "$work" && sha256sum --check --strict "$sums") || die "the fetched files do not match $sums: not installed"
for f in "${FILES[@]}"; do cp "$work/$(basename "$f")" "$vendor/$(basename "$f")"; done
say "installed $PACKAGE $VERSION into $vendor (sha256 verified)"
