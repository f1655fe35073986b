#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module for a short time each, one
# at a time (go test -fuzz takes one target per run), and stops at the
# first failure; the failing input lands in the package's testdata/fuzz.
#
#   FUZZTIME=5s   how long each target runs (any -fuzztime value)
#   FUZZ=regexp   only the targets whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain go.mod requires (`make fuzz` exports it; run alone, the
# machine's Go would refuse the module).
export GOTOOLCHAIN=${GOTOOLCHAIN:-go$(awk '$1 == "go" {print $2}' go.mod)}

fuzztime=${FUZZTIME:-5s}
only=${FUZZ:-.}

# Only packages with a fuzz target are listed: -list still runs each test
# binary's TestMain, and some start servers.
mapfile -t pkgs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u)
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
# go test -list prints each package's matching names, then "ok <pkg> …".
list=$(go test -list '^Fuzz' "${pkgs[@]}")
targets=()
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in "${names[@]}"; do targets+=("$second $n"); done
		names=()
		;;
	esac
done <<<"$list"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

# fuzz runs one target, its output also in $out.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fuzz() {
	go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" 2>&1 | tee "$out"
	return "${PIPESTATUS[0]}"
}

start=$SECONDS
ran=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	[[ $name =~ $only ]] || continue
	echo "=== $pkg $name ($fuzztime)"
	if ! fuzz "$pkg" "$name"; then
		# Go's fuzzer can end a run with "context deadline exceeded" when
		# -fuzztime runs out while it minimizes a new interesting input:
		# no input failed (none was written). Run the target once more;
		# a real failure fails again, with its input.
		if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "fuzz.sh: $name stopped at the deadline while minimizing, no failing input: running it again"
			fuzz "$pkg" "$name"
		else
			exit 1
		fi
	fi
	ran=$((ran + 1))
done
echo "fuzz.sh: $ran targets passed in $((SECONDS - start))s"
