#!/bin/sh
# Runs every fuzz target of the packages given for FUZZTIME each, FUZZJOBS
# targets at a time (each with FUZZPARALLEL workers when set), a log per
# target in FUZZLOGS. FUZZMINIMIZETIME bounds the minimization of each new
# input (Go's default of 60s lets a target whose runs take a millisecond,
# such as FuzzSegment's 64 KiB frames, spend its time minimizing). Exits
# non-zero when any target failed, naming it.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZJOBS=${FUZZJOBS:-1}
FUZZPARALLEL=${FUZZPARALLEL:-}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
FUZZLOGS=${FUZZLOGS:-$(mktemp -d -t ustack-fuzz.XXXXXX)}
case $FUZZJOBS in ''|*[!0-9]*|0) echo "fuzz: FUZZJOBS=$FUZZJOBS is not a positive integer" >&2; exit 2;; esac
case $FUZZPARALLEL in *[!0-9]*) echo "fuzz: FUZZPARALLEL=$FUZZPARALLEL is not a positive integer" >&2; exit 2;; esac
mkdir -p "$FUZZLOGS"
targets=$FUZZLOGS/targets
: >"$targets"
for pkg in $($GO list "$@"); do
	$GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' | sed "s|^|$pkg |" >>"$targets" || true
done
echo "fuzz: $(wc -l <"$targets") targets, $FUZZTIME each, $FUZZJOBS at a time; logs in $FUZZLOGS"
export GO FUZZTIME FUZZPARALLEL FUZZLOGS FUZZMINIMIZETIME
xargs -P "$FUZZJOBS" -L 1 sh -c '
	log=$FUZZLOGS/$(echo "$0" | tr / _).$1.log
	start=$(date +%s)
	if $GO test -run "^\$" -fuzz "^$1\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" ${FUZZPARALLEL:+-parallel "$FUZZPARALLEL"} "$0" >"$log" 2>&1; then
		echo "ok   $0 $1 ($(( $(date +%s) - start ))s, $(grep -o "execs: [0-9]*" "$log" | tail -1))"
	else
		echo "FAIL $0 $1: see $log"
		tail -20 "$log"
		exit 1
	fi' <"$targets"
