#!/usr/bin/env bash
# A Flink session cluster on 127.0.0.1: one JobManager and TWO TaskManagers, three separate JVMs.
#   Every port is chosen free at start (REST, JobManager RPC, blob server, each TaskManager's RPC
#   and data ports, metrics query ports) and written into a generated config dir,
#   .tools/flink-cluster/conf (FLINK_CONF_DIR), with .tools/flink-cluster/cluster.env
#   (FLINK_REST_PORT=...) for the scripts that submit to it. Logs: .tools/flink-logs.
#   JobManager 768m, TaskManagers $TM_MEMORY (default 2560m), 2 slots each.
# Usage: scripts/flink-cluster.sh start|stop|status|add-taskmanager ID   (after scripts/flink-setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
FLINK_VERSION=${FLINK_VERSION:-1.19.3}
PYTHON=${PYTHON:-python3}
TASKMANAGERS=${TASKMANAGERS:-2}
TM_MEMORY=${TM_MEMORY:-2560m}
export FLINK_HOME="$PWD/.tools/flink-$FLINK_VERSION"
export FLINK_LOG_DIR="$PWD/.tools/flink-logs"
export FLINK_PID_DIR="$PWD/.tools/flink-cluster/pids"
export FLINK_CONF_DIR="$PWD/.tools/flink-cluster/conf"
ENV_FILE="$PWD/.tools/flink-cluster/cluster.env"

[ -x "$FLINK_HOME/bin/jobmanager.sh" ] || { echo "run scripts/flink-setup.sh first"; exit 1; }

free_ports() {  # N distinct free TCP ports on 127.0.0.1
    "$PYTHON" - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# The cluster's JVMs: every Flink entrypoint running with this cluster's config dir.
cluster_pids() { pgrep -f -- "-Dlog.file=$FLINK_LOG_DIR/" || true; }

rest_overview() {
    "$PYTHON" - "$1" "$2" <<'PY'
import json, sys, urllib.request
overview = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/overview", timeout=2))
if overview["taskmanagers"] < int(sys.argv[2]):
    sys.exit(1)
print(json.dumps(overview))
PY
}

start_taskmanager() {  # one more TaskManager JVM, resource id $1, on free ports
    read -r TM_RPC TM_DATA TM_METRICS <<<"$(free_ports 3)"
    "$FLINK_HOME/bin/taskmanager.sh" start -D taskmanager.rpc.port="$TM_RPC" \
        -D taskmanager.data.port="$TM_DATA" -D metrics.internal.query-service.port="$TM_METRICS" \
        -D taskmanager.resource-id="$1" >/dev/null
}

# What Kubernetes or YARN does when a TaskManager dies: start another one into the running cluster.
add_taskmanager() {
    [ -f "$ENV_FILE" ] || { echo "not running"; exit 1; }
    [ -n "${1:-}" ] || { echo "usage: $0 add-taskmanager ID"; exit 2; }
    start_taskmanager "$1"
    echo "TaskManager $1 started: JVM pids $(cluster_pids | tr '\n' ' ')"
}

start() {
    if [ -n "$(cluster_pids)" ]; then echo "already running: pids $(cluster_pids | tr '\n' ' ')"; exit 1; fi
    rm -rf "$FLINK_CONF_DIR" "$FLINK_PID_DIR" && mkdir -p "$FLINK_CONF_DIR" "$FLINK_PID_DIR" "$FLINK_LOG_DIR"
    rm -f "$FLINK_LOG_DIR"/*
    cp "$FLINK_HOME"/conf/log4j*.properties "$FLINK_HOME"/conf/logback*.xml "$FLINK_CONF_DIR/"
    read -r REST_PORT JM_RPC BLOB JM_METRICS <<<"$(free_ports 4)"
    # Flink's own JVM flags (its config.yaml's --add-opens list for Java 17) plus this cluster.
    "$PYTHON" - "$FLINK_HOME/conf/config.yaml" "$FLINK_CONF_DIR/config.yaml" <<PY
import sys
java_opts = ""
for line in open(sys.argv[1]):
    if line.strip().startswith("all: --add-"):
        java_opts = line.split("all:", 1)[1].strip()
settings = {
    "env.java.opts.all": java_opts,
    "jobmanager.rpc.address": "localhost",
    "jobmanager.bind-host": "127.0.0.1",
    "jobmanager.rpc.port": "$JM_RPC",
    "jobmanager.memory.process.size": "768m",
    "jobmanager.execution.failover-strategy": "region",
    "blob.server.port": "$BLOB",
    "rest.address": "localhost",
    "rest.bind-address": "127.0.0.1",
    "rest.port": "$REST_PORT",
    "taskmanager.bind-host": "127.0.0.1",
    "taskmanager.host": "localhost",
    "taskmanager.numberOfTaskSlots": "2",
    "taskmanager.memory.process.size": "$TM_MEMORY",
    # Beam's gRPC data plane uses direct buffers: with the default (0) task off-heap, one
    # TaskManager running two subtasks of the same-story stage failed with "OutOfMemoryError:
    # Direct buffer memory" (the 1,200-page job after a TaskManager was killed).
    "taskmanager.memory.task.off-heap.size": "256m",
    # Flink's default managed memory (40%) with the off-heap above leaves the task heap almost
    # nothing (at 1280m and no off-heap the TaskManager heap was 160 MB, and a lone TaskManager
    # died of "OutOfMemoryError: Java heap space"); at 0.1 the batch sort buffers were too small
    # ("Cannot write record to fresh sort buffer. Record too large."). 0.25: ~320 MB heap,
    # ~270 MB managed.
    "taskmanager.memory.managed.fraction": "0.25",
    "taskmanager.network.sort-shuffle.min-buffers": "64",
    # Subtasks of one job on different TaskManagers when slots allow it.
    "cluster.evenly-spread-out-slots": "true",
    "parallelism.default": "2",
    # A killed TaskManager: noticed within ~10 s; the failed region restarted up to 5 times, 10 s
    # apart (3 restarts 5 s apart were used up in the 18 s before the dead TaskManager was
    # dropped: each restart still placed tasks on it or read its partitions).
    "heartbeat.interval": "2000",
    "heartbeat.timeout": "10000",
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "5",
    "restart-strategy.fixed-delay.delay": "10 s",
    "metrics.internal.query-service.port": "$JM_METRICS",
}
with open(sys.argv[2], "w") as out:
    for key, value in settings.items():
        out.write(f"{key}: {value!r}\n" if value else f"{key}: ''\n")
PY
    "$FLINK_HOME/bin/jobmanager.sh" start >/dev/null
    for i in $(seq 1 "$TASKMANAGERS"); do start_taskmanager "tm-$i"; done
    cat >"$ENV_FILE" <<EOF
FLINK_REST_PORT=$REST_PORT
FLINK_MASTER=localhost:$REST_PORT
EOF
    for _ in $(seq 1 120); do
        if overview=$(rest_overview "$REST_PORT" "$TASKMANAGERS" 2>/dev/null); then
            echo "Flink up: http://localhost:$REST_PORT, $TASKMANAGERS TaskManagers, JVM pids $(cluster_pids | tr '\n' ' ')"
            echo "$overview"
            return 0
        fi
        sleep 1
    done
    echo "Flink did not come up with $TASKMANAGERS TaskManagers: see $FLINK_LOG_DIR"; stop; return 1
}

stop() {
    "$FLINK_HOME/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
    "$FLINK_HOME/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do
        [ -z "$(cluster_pids)" ] && break
        sleep 1
    done
    left=$(cluster_pids)
    if [ -n "$left" ]; then  # only this cluster's JVMs, by pid
        echo "still running after 30 s, SIGKILL: $left"
        kill -9 $left 2>/dev/null || true
    fi
    rm -f "$ENV_FILE"
    echo "Flink stopped (cluster JVMs left: $(cluster_pids | wc -l))"
}

status() {
    [ -f "$ENV_FILE" ] || { echo "not running"; exit 1; }
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    rest_overview "$FLINK_REST_PORT" 1 || { echo "not answering on $FLINK_REST_PORT"; exit 1; }
    echo "JVM pids: $(cluster_pids | tr '\n' ' ')"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
add-taskmanager) add_taskmanager "${2:-}" ;;
*) echo "usage: $0 start|stop|status|add-taskmanager ID"; exit 2 ;;
esac
