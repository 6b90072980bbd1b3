#!/usr/bin/env bash
# make fuzz: run every fuzz target of the module (func FuzzX in *_test.go) for FUZZTIME each (a time such as 30s,
# the default, or a count of inputs such as 300x), one after the other; stops at the first failure, whose
# reproducer go test writes under the package's testdata/fuzz/.
#
# Memory is bounded: the whole go test process tree (coordinator and workers) is sampled every 0.2 s and killed,
# failing the run, when its resident memory passes FUZZ_MAX_RSS_MIB (default 2048); each target's peak is printed.
#
# With FUZZ_SAVE_CORPUS=1 (make fuzz-corpus), each target's corpus that go test keeps in its cache (the inputs that
# found new coverage) is copied into the package's testdata/fuzz/<target>/, the smallest first, at most
# FUZZ_CORPUS_FILES (64) files and FUZZ_CORPUS_BYTES (262144) bytes per target: plain go test then runs them all as
# regression inputs.
# usage: hack/fuzz.sh [FUZZTIME]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-30s}
max_rss_kib=$((${FUZZ_MAX_RSS_MIB:-2048} * 1024))
cache=$(go env GOCACHE)/fuzz

# tree_rss PID prints the summed VmRSS (KiB) of PID and all its descendants.
tree_rss() {
	ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
		{ parent[$1] = $2; rss[$1] = $3 }
		END {
			for (p in rss) { q = p; while (q != "" && q != 0 && q != root) q = parent[q]; if (q == root) s += rss[p] }
			print s + 0
		}'
}

# run_bounded CMD... runs CMD, watching its memory; fails if CMD fails or passes the bound.
run_bounded() {
	"$@" &
	local pid=$! peak=0 rss
	while kill -0 "$pid" 2>/dev/null; do
		rss=$(tree_rss "$pid")
		((rss > peak)) && peak=$rss
		if ((rss > max_rss_kib)); then
			pkill -KILL -P "$pid" || true
			kill -KILL "$pid" || true
			wait "$pid" || true
			echo "fuzz: resident memory ${rss} KiB passed FUZZ_MAX_RSS_MIB" >&2
			return 1
		fi
		sleep 0.2
	done
	wait "$pid"
	echo "fuzz: peak resident memory $((peak / 1024)) MiB (bound $((max_rss_kib / 1024)) MiB)"
}

# save_corpus PKG DIR TARGET copies the cached corpus of TARGET into DIR/testdata/fuzz/TARGET.
save_corpus() {
	local src="$cache/$1/$3" dst="$2/testdata/fuzz/$3" files=0 bytes=0 size f
	[[ -d $src ]] || return 0
	mkdir -p "$dst"
	while read -r size f; do
		((files < ${FUZZ_CORPUS_FILES:-64} && bytes + size <= ${FUZZ_CORPUS_BYTES:-262144})) || break
		[[ -e $dst/$(basename "$f") ]] || cp "$f" "$dst/"
		files=$((files + 1)) bytes=$((bytes + size))
	done < <(find "$src" -type f -printf '%s %p\n' | sort -n)
	echo "fuzz: corpus of $3: $files files, $bytes bytes in $dst"
}

n=0
while read -r pkg dir; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($time)"
		run_bounded go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 1s "$pkg"
		if [[ ${FUZZ_SAVE_CORPUS:-} == 1 ]]; then save_corpus "$pkg" "$dir" "$target"; fi
		n=$((n + 1))
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
echo "fuzz: $n targets, $time each, no failure"
