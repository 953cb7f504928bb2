#!/usr/bin/env bash
# scripts/kafka.sh: a single-node Apache Kafka 3.9.1 broker (KRaft, broker+controller in
# one JVM) for local development and tests, without Docker.
#
# Usage: scripts/kafka.sh <command>        (works from any directory)
#   start      fetch the jars if needed, format storage, start the broker in the
#              background and wait until it answers metadata requests. The last line
#              on stdout is the bootstrap address (127.0.0.1:<port>); progress goes to
#              stderr. When the broker is already running it only prints the address.
#   stop       SIGTERM, wait up to KAFKA_STOP_TIMEOUT seconds, then SIGKILL. Idempotent.
#   restart    stop, then start again on the SAME ports with the same data.
#   status     exit 0 (and print pid and address) when the broker is running, 1 otherwise.
#   bootstrap  print the bootstrap address of the running broker (exit 1 when stopped).
#   clean      stop, then delete the state directory (data, logs, ports).
#
# Environment:
#   KAFKA_HOME_DIR        jar cache (default: $HOME/.cache/flotilla/kafka-3.9.1); the jars
#                         live in $KAFKA_HOME_DIR/libs and are fetched once with Maven.
#   KAFKA_STATE_DIR       config, data, logs, pid and ports (default: <repo>/.kafka).
#   KAFKA_PORT            broker port; otherwise the port saved in the state dir when it
#                         is still free, else a random free loopback port.
#   KAFKA_CONTROLLER_PORT controller port (same rules as KAFKA_PORT).
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (default 90).
#   KAFKA_STOP_TIMEOUT    seconds to wait after SIGTERM before SIGKILL (default 30).
#   KAFKA_HEAP_OPTS       JVM heap options (default -Xmx512m).
#   JAVA_HOME             optional; otherwise java from PATH (Java 17).
#
# Files in the state dir: server.properties, log4j.properties, ports, kafka.pid,
# kafka.log (broker output; previous run in kafka.log.1), data/ (log.dirs).
#
# Example (e.g. from a test's global setup):
#   export KAFKA_BROKERS="$(scripts/kafka.sh start | tail -n 1)"

set -euo pipefail

readonly KAFKA_VERSION=3.9.1
readonly SCALA_BINARY=2.13
readonly SLF4J_VERSION=1.7.36        # org.slf4j:slf4j-reload4j (the binding)
readonly RELOAD4J_VERSION=1.2.25     # ch.qos.reload4j:reload4j (no 1.7.x exists; Kafka 3.9 uses 1.2.25)
readonly DEPENDENCY_PLUGIN=3.8.1     # maven-dependency-plugin, pinned for reproducibility

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
HOME_DIR="${KAFKA_HOME_DIR:-$HOME/.cache/flotilla/kafka-$KAFKA_VERSION}"
LIB_DIR="$HOME_DIR/libs"
STATE_DIR="${KAFKA_STATE_DIR:-$REPO_ROOT/.kafka}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"   # the pid check compares paths
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m}"

PROPS="$STATE_DIR/server.properties"
LOG4J_PROPS="$STATE_DIR/log4j.properties"
TOOLS_LOG4J_PROPS="$STATE_DIR/tools-log4j.properties"
PORTS_FILE="$STATE_DIR/ports"
PID_FILE="$STATE_DIR/kafka.pid"
LOG_FILE="$STATE_DIR/kafka.log"
DATA_DIR="$STATE_DIR/data"

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA="java"
fi

# ---------------------------------------------------------------------------- jars

jars_present() {
  [[ -f "$LIB_DIR/.complete" && -f "$LIB_DIR/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]]
}

write_fetch_pom() { # $1 = file
  cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.flotilla</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>${RELOAD4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>${DEPENDENCY_PLUGIN}</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
}

fetch_jars() {
  jars_present && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch Kafka jars into $LIB_DIR)"
  mkdir -p "$HOME_DIR"
  # One fetch at a time per cache (parallel test jobs); the others wait and reuse it.
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$HOME_DIR/.fetch.lock"
    flock -w 900 8 || die "timed out waiting for another fetch into $LIB_DIR"
    if jars_present; then exec 8>&-; return 0; fi
  fi
  local work
  work="$(mktemp -d "$HOME_DIR/fetch.XXXXXX")"
  write_fetch_pom "$work/pom.xml"
  log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR (one-time)"
  local attempt ok=0
  local -a force=()
  for attempt in 1 2; do
    rm -rf "$work/libs"
    # -U on the retry: Maven caches "not found" results in ~/.m2 and would not ask again.
    if mvn -q -B "${force[@]}" -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$work/libs" >"$work/mvn.log" 2>&1 \
      && [[ -f "$work/libs/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]]; then
      ok=1
      break
    fi
    log "Maven fetch attempt $attempt failed:"
    tail -n 30 "$work/mvn.log" >&2 || true
    if [[ $attempt -eq 1 ]]; then log "retrying in 3 s"; force=(-U); sleep 3; fi
  done
  if [[ $ok -ne 1 ]]; then
    rm -rf "$work"
    die "could not fetch Kafka jars (Maven Central reachable? see output above)"
  fi
  # Publish with a rename, so that libs/ is either absent or complete.
  touch "$work/libs/.complete"
  rm -rf "$LIB_DIR"
  mv "$work/libs" "$LIB_DIR"
  rm -rf "$work"
  exec 8>&-
  jars_present || die "jar cache $LIB_DIR is incomplete after fetching"
  log "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars"
}

# ---------------------------------------------------------------------------- ports

port_in_use() { # $1 = port; true when something listens on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_bindable() { # $1 = port; true when we could bind 127.0.0.1:$1 right now
  port_in_use "$1" && return 1
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
  fi
}

pick_free_port() { # $1 = a port to avoid; prints a free port below the ephemeral range
  local p _try
  for _try in $(seq 1 200); do
    p=$((15000 + (RANDOM * 32768 + RANDOM) % 17000))
    [[ "$p" == "${1:-}" ]] && continue
    if port_bindable "$p"; then echo "$p"; return 0; fi
  done
  die "no free loopback port found"
}

saved_port() { # $1 = key (broker|controller) from the ports file
  [[ -f "$PORTS_FILE" ]] || return 0
  sed -n "s/^$1=\([0-9][0-9]*\)$/\1/p" "$PORTS_FILE" | head -n 1
}

# Sets BROKER_PORT and CONTROLLER_PORT. $1 = "keep" for restart (saved ports, or fail).
choose_ports() {
  local mode="${1:-}" saved_b saved_c
  saved_b="$(saved_port broker)"
  saved_c="$(saved_port controller)"
  if [[ "$mode" == keep && -n "$saved_b" && -n "$saved_c" ]]; then
    BROKER_PORT="$saved_b"; CONTROLLER_PORT="$saved_c"
    wait_ports_free
    return 0
  fi
  if [[ -n "${KAFKA_PORT:-}" ]]; then
    BROKER_PORT="$KAFKA_PORT"
  elif [[ -n "$saved_b" ]] && port_bindable "$saved_b"; then
    BROKER_PORT="$saved_b"
  else
    BROKER_PORT="$(pick_free_port "")"
  fi
  if [[ -n "${KAFKA_CONTROLLER_PORT:-}" ]]; then
    CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT"
  elif [[ -n "$saved_c" && "$saved_c" != "$BROKER_PORT" ]] && port_bindable "$saved_c"; then
    CONTROLLER_PORT="$saved_c"
  else
    CONTROLLER_PORT="$(pick_free_port "$BROKER_PORT")"
  fi
  [[ "$BROKER_PORT" != "$CONTROLLER_PORT" ]] || die "broker and controller ports are both $BROKER_PORT"
  wait_ports_free
}

wait_ports_free() { # the ports we are about to use must be bindable (short grace period)
  local p _try
  for p in "$BROKER_PORT" "$CONTROLLER_PORT"; do
    for _try in $(seq 1 20); do
      port_bindable "$p" && continue 2
      sleep 0.5
    done
    die "port $p on 127.0.0.1 is in use (set KAFKA_PORT / KAFKA_CONTROLLER_PORT, or run clean)"
  done
}

# ---------------------------------------------------------------------------- process

running_pid() { # prints the broker pid when our broker runs; false otherwise
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be kafka.Kafka with our config.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$PROPS" | grep -qF 'kafka.Kafka' || return 1
  fi
  echo "$pid"
}

bootstrap_address() { echo "127.0.0.1:$(saved_port broker)"; }

write_config() {
  mkdir -p "$DATA_DIR"
  printf 'broker=%s\ncontroller=%s\n' "$BROKER_PORT" "$CONTROLLER_PORT" >"$PORTS_FILE"
  cat >"$PROPS" <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${BROKER_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${DATA_DIR}
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# Small footprint: short retention and small segments.
log.retention.hours=1
log.retention.bytes=104857600
log.segment.bytes=16777216
log.retention.check.interval.ms=60000
EOF
  cat >"$LOG4J_PROPS" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
EOF
  cat >"$TOOLS_LOG4J_PROPS" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

run_tool() { # a Kafka tool in its own short-lived JVM (StorageTool calls exit)
  local -a limit=()
  command -v timeout >/dev/null 2>&1 && limit=(timeout "${TOOL_TIMEOUT:-120}")
  "${limit[@]}" "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j.configuration="file:$TOOLS_LOG4J_PROPS" -cp "$LIB_DIR/*" "$@"
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0 # already formatted: keep data (and its cluster id) across restarts
  fi
  local cluster_id
  cluster_id="$(run_tool kafka.tools.StorageTool random-uuid | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid printed nothing"
  log "formatting $DATA_DIR (cluster id $cluster_id)"
  run_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" --ignore-formatted >&2 \
    || die "StorageTool format failed"
}

show_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    log "last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2 || true
  fi
}

stop_failed() { # $1 = pid: do not leave a half-started broker behind
  log "killing the broker (pid $1)"
  kill -KILL "$1" 2>/dev/null || true
  rm -f "$PID_FILE"
}

# Readiness: the broker port is bound (and the kernel completes TCP handshakes) seconds
# before the broker serves requests: it first replays the metadata log, loads partitions
# and waits for the controller to unfence it; only then are request handlers enabled.
# So a TCP check is not enough. This sends a real Kafka Metadata request (v1, all topics)
# over bash's /dev/tcp and requires a reply that lists broker 1. No JVM per attempt
# (a Kafka admin tool costs ~2 s of JVM start per poll; TopicCommand/ClusterTool are not
# even in the core jars: they live in kafka-tools).
metadata_ready() { # $1 = port
  local reply
  local -a b
  # size=22 | api_key=3 (Metadata) | version=1 | correlation_id=1 | client_id="kafka.sh" | topics=null
  # shellcheck disable=SC2016  # the inner script gets the port as its $1
  reply="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x16\x00\x03\x00\x01\x00\x00\x00\x01\x00\x08kafka.sh\xff\xff\xff\xff" >&3
    head -c 16 <&3 | od -An -v -tu1' _ "$1" 2>/dev/null)" || return 1
  read -r -a b <<<"$reply"
  # reply: size(4) | correlation_id(4) = 1 | brokers count(4) >= 1 | first node_id(4) = 1
  [[ ${#b[@]} -eq 16 ]] || return 1
  [[ "${b[4]} ${b[5]} ${b[6]} ${b[7]}" == "0 0 0 1" ]] || return 1
  (( (b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11]) >= 1 )) || return 1
  [[ "${b[12]} ${b[13]} ${b[14]} ${b[15]}" == "0 0 0 1" ]]
}

wait_ready() { # $1 = pid
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  log "waiting for the broker on 127.0.0.1:$BROKER_PORT (timeout ${START_TIMEOUT}s)"
  until metadata_ready "$BROKER_PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail; rm -f "$PID_FILE"; die "broker exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail; stop_failed "$pid"; die "broker not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
}

launch() { # broker in the background, detached, output to the log file; sets LAUNCHED_PID
  if [[ -f "$LOG_FILE" ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi
  local -a setsid_cmd=()
  if command -v setsid >/dev/null 2>&1; then setsid_cmd=(setsid); fi
  (
    # Close every inherited descriptor above 2 (our lock fds 8 and 9, and whatever the
    # caller passed down, e.g. an extra pipe from Node's spawn or a CI runner): a
    # long-lived broker holding a caller's pipe makes that caller wait for EOF forever.
    if [[ -d "/proc/$BASHPID/fd" ]]; then
      for fd in "/proc/$BASHPID/fd/"*; do
        fd="${fd##*/}"
        if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
      done
    else
      exec 8>&- 9>&-
    fi
    # shellcheck disable=SC2086  # HEAP_OPTS and KAFKA_OPTS are word lists on purpose
    exec nohup "${setsid_cmd[@]}" "$JAVA" $HEAP_OPTS ${KAFKA_OPTS:-} \
      -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$LOG4J_PROPS" \
      -Dkafka.logs.dir="$STATE_DIR" \
      -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" \
      </dev/null >>"$LOG_FILE" 2>&1
  ) &
  LAUNCHED_PID=$!   # the subshell execs nohup, which execs setsid, which execs java
  echo "$LAUNCHED_PID" >"$PID_FILE"
}

do_start() { # $1 = "keep" to reuse the saved ports (restart)
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"
    bootstrap_address
    return 0
  fi
  rm -f "$PID_FILE"
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Java 17 needed)"
  fetch_jars
  choose_ports "${1:-}"
  write_config
  format_storage
  local t0=$SECONDS
  log "starting Kafka $KAFKA_VERSION (broker 127.0.0.1:$BROKER_PORT, controller 127.0.0.1:$CONTROLLER_PORT, log $LOG_FILE)"
  launch
  wait_ready "$LAUNCHED_PID"
  log "ready after $((SECONDS - t0))s (pid $LAUNCHED_PID)"
  bootstrap_address
}

do_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped"
}

with_lock() { # serialise start/stop/restart/clean on one state dir
  mkdir -p "$STATE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_DIR/.lock"
    flock -w 300 9 || die "timed out waiting for the lock on $STATE_DIR"
  fi
  "$@"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start) with_lock do_start ;;
    stop) with_lock do_stop ;;
    restart)
      with_lock do_stop
      with_lock do_start keep
      ;;
    status)
      local pid
      if pid="$(running_pid)"; then
        echo "running (pid $pid) at $(bootstrap_address)"
      else
        echo "not running"
        exit 1
      fi
      ;;
    bootstrap)
      running_pid >/dev/null || die "not running (run: $0 start)"
      bootstrap_address
      ;;
    clean)
      with_lock do_stop
      log "removing $STATE_DIR"
      rm -rf "$STATE_DIR"
      ;;
    *)
      sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
      [[ "$cmd" == -h || "$cmd" == --help || "$cmd" == help ]] && exit 0
      exit 2
      ;;
  esac
}

main "$@"
