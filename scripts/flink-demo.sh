#!/usr/bin/env bash
# The demo on the local Flink cluster through Beam's Flink runner, compared row for row with the
# default runner (FnApiRunner); prints the verdict and both run times.
#   FlinkRunner with --flink_master=localhost:8081 and --flink_job_server_jar submits the job to
#   the cluster's REST API (the job server jar is the base of the job's jar). SDK workers:
#   LOOPBACK (in this process; the TaskManager is on this machine) or EXTERNAL (a worker pool).
# Usage: scripts/flink-demo.sh [OUT_DIR]   (ENV_TYPE=LOOPBACK|EXTERNAL, FLINK_JOB_SERVER_JAR=...)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
OUT=${1:-out/flink}
FLINK_VERSION=${FLINK_VERSION:-1.20.3}
FLINK_MINOR=${FLINK_VERSION%.*}
ENV_TYPE=${ENV_TYPE:-LOOPBACK}
POOL_PORT=${POOL_PORT:-18200}
export PATH="$PWD/$VENV/bin:$PATH"

JAR=${FLINK_JOB_SERVER_JAR:-$(cat .tools/jobserver/selected 2>/dev/null || true)}
if [ -z "$JAR" ] || [ ! -f "$JAR" ]; then
    echo "No Beam Flink job server jar (scripts/flink-setup.sh found none on Maven Central here)."
    echo "Set FLINK_JOB_SERVER_JAR=/path/to/beam-runners-flink-$FLINK_MINOR-job-server-<ver>.jar"
    echo "(the Beam version nearest to $("$PY" -c 'import apache_beam; print(apache_beam.__version__)'))."
    exit 3
fi
PYTHON="$PY" scripts/flink-cluster.sh status >/dev/null 2>&1 || PYTHON="$PY" scripts/flink-cluster.sh start

rm -rf "$OUT" && mkdir -p "$OUT/logs"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
env_args=(--environment_type LOOPBACK)
if [ "$ENV_TYPE" = EXTERNAL ]; then
    "$PY" -m apache_beam.runners.worker.worker_pool_main --service_port "$POOL_PORT" \
        >"$OUT/logs/worker_pool.log" 2>&1 &
    pids+=($!)
    env_args=(--environment_type EXTERNAL --environment_config "localhost:$POOL_PORT")
fi

demo=(--outlets seeds/demo/outlets.yaml --replay seeds/demo/recording --run_id demo --as_of 2026-11-25)
t0=$(date +%s.%N)
"$PY" -m pipelines.ingest "${demo[@]}" --output "$PWD/$OUT/fnapi" --runner FnApiRunner \
    >"$OUT/logs/fnapi.log" 2>&1
t1=$(date +%s.%N)
# Absolute paths: the Flink TaskManager's SDK workers resolve them, not this shell.
"$PY" -m pipelines.ingest "${demo[@]}" --output "$PWD/$OUT/flink" --runner FlinkRunner \
    --flink_master localhost:8081 --flink_version "$FLINK_MINOR" --flink_job_server_jar "$JAR" \
    --parallelism 2 "${env_args[@]}" >"$OUT/logs/flink.log" 2>&1
t2=$(date +%s.%N)
echo "Beam $("$PY" -c 'import apache_beam; print(apache_beam.__version__)') SDK, job server $(basename "$JAR"), Flink $FLINK_VERSION, $ENV_TYPE"
"$PY" -c "print(f'FnApiRunner (in process): {$t1 - $t0:6.1f} s')"
"$PY" -c "print(f'FlinkRunner (cluster):    {$t2 - $t1:6.1f} s')"
"$PY" scripts/compare_runs.py "$OUT/fnapi" "$OUT/flink"
