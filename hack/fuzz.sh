#!/usr/bin/env bash
# make fuzz: run every fuzz target of the module (func FuzzX in *_test.go) for FUZZTIME each (a time such as 30s,
# the default, or a count of inputs such as 300x), one
# after the other; stops at the first failure, whose reproducer go test writes under the package's testdata/fuzz/.
# usage: hack/fuzz.sh [FUZZTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
n=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($time)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 1s "$pkg"
		n=$((n + 1))
	done
done
echo "fuzz: $n targets, $time each, no failure"
