#!/usr/bin/env bash
# redis-benchmark against `quorum serve` (3 nodes, in memory) and a plain redis-server, three
# runs each, alternating, as DESIGN.md section 13 reports. Needs Debian's redis-tools and
# redis-server (`apt-get install redis-tools redis-server`) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
quorum=${QUORUM:-target/release/quorum}
runs=${RUNS:-3}
for i in $(seq 1 "$runs"); do
  "$quorum" serve --nodes 3 --storage mem --listen 7500 > /dev/null &
  pid=$!
  sleep 1.5
  echo "== quorum serve, run $i"
  redis-benchmark -p 7501 -t set,get -n 100000 -c 50 -q 2>/dev/null | tr '\r' '\n' | grep "requests per second"
  kill -TERM "$pid"; wait "$pid"
  redis-server --port 7600 --save "" --appendonly no > /dev/null &
  pid=$!
  sleep 0.5
  echo "== redis-server, run $i"
  redis-benchmark -p 7600 -t set,get -n 100000 -c 50 -q 2>/dev/null | tr '\r' '\n' | grep "requests per second"
  kill "$pid"; wait "$pid" || true
done
