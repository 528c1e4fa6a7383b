#!/usr/bin/env bash
# Local infrastructure for iGot development and tests:
#   - RabbitMQ (Debian's rabbitmq-server package)   amqp://guest:guest@127.0.0.1:5672/
#   - MongoDB-compatible server (FerretDB with SQLite, built from tools/ferretdb)
#                                                     mongodb://127.0.0.1:27017/
#
# Usage: scripts/infra.sh up|down|status
#
#   up      install what is missing, start what is not running, wait until ready
#           (safe to run repeatedly; fast when everything already runs)
#   down    stop both servers
#   status  show whether each server is running (exit 1 if one is not)
#
# Environment:
#   IGOT_INFRA_SKIP_RABBITMQ=1   do not install/start/stop RabbitMQ (use your own server)
#   IGOT_INFRA_SKIP_MONGO=1      do not build/start/stop FerretDB (use your own server)
#   IGOT_INFRA_TIMEOUT=90        seconds to wait for each server to become ready
#   IGOT_FERRETDB_LOG_LEVEL=warn FerretDB log level: debug, info, warn or error
#   GO=/path/to/go               Go toolchain used to build tools/ferretdb
#
# Runtime files live under .cache/ in the repository root:
#   .cache/bin/igot-ferretdb, .cache/run/ferretdb.pid, .cache/log/ferretdb.log,
#   .cache/ferretdb-data/
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# rabbitmq-server and its tools live in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
CACHE="$ROOT/.cache"
RUN_DIR="$CACHE/run"
LOG_DIR="$CACHE/log"

FERRET_SRC="$ROOT/tools/ferretdb"
FERRET_BIN="$CACHE/bin/igot-ferretdb"
FERRET_PID="$RUN_DIR/ferretdb.pid"
FERRET_LOG="$LOG_DIR/ferretdb.log"
FERRET_DATA="$CACHE/ferretdb-data"
MONGO_HOST=127.0.0.1
MONGO_PORT=27017
MONGO_URL="mongodb://$MONGO_HOST:$MONGO_PORT/"

AMQP_HOST=127.0.0.1
AMQP_PORT=5672
AMQP_URL="amqp://guest:guest@$AMQP_HOST:$AMQP_PORT/"

TIMEOUT="${IGOT_INFRA_TIMEOUT:-90}"
PY="$ROOT/.venv/bin/python"

# ---------------------------------------------------------------- helpers

say() { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: WARNING: %s\n' "$*" >&2; }
die() {
	printf 'infra: ERROR: %s\n' "$1" >&2
	shift
	local line
	for line in "$@"; do printf '       %s\n' "$line" >&2; done
	exit 1
}

truthy() {
	case "${1:-}" in 1 | true | TRUE | yes | YES | on | ON) return 0 ;; *) return 1 ;; esac
}

skip_rabbit() { truthy "${IGOT_INFRA_SKIP_RABBITMQ:-}"; }
skip_mongo() { truthy "${IGOT_INFRA_SKIP_MONGO:-}"; }

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		return 1
	fi
}

# ---------------------------------------------------------------- RabbitMQ

# Debian's rabbitmq-server wrapper starts the broker through `su`, whose session allows 1,024 open files.
# Every quorum queue holds files, and a test run declares hundreds of queues: at the limit the broker
# accepts TCP connections but never answers the AMQP handshake (it waits for a file handle). So start
# the broker as its user directly, with the open-files limit raised to the hard limit.
rabbit_start() {
	local server=/usr/lib/rabbitmq/bin/rabbitmq-server
	if [ -x "$server" ] && id rabbitmq >/dev/null 2>&1 && command -v su >/dev/null 2>&1; then
		as_root su rabbitmq -s /bin/sh -c \
			"ulimit -n 65536 2>/dev/null || ulimit -n \"\$(ulimit -Hn)\"; cd /var/lib/rabbitmq && exec $server -detached"
	else
		as_root rabbitmq-server -detached
	fi
}

rabbit_hint=(
	"To use an existing RabbitMQ instead, run with IGOT_INFRA_SKIP_RABBITMQ=1"
	"and point the tests at it with IGOT_AMQP_URL=amqp://user:pass@host:5672/."
)

rabbit_installed() {
	command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ]
}

rabbit_ping() {
	as_root rabbitmq-diagnostics -q ping >/dev/null 2>&1
}

rabbit_running() {
	port_open "$AMQP_HOST" "$AMQP_PORT" && rabbit_ping
}

rabbit_install() {
	rabbit_installed && return 0
	command -v apt-get >/dev/null 2>&1 ||
		die "rabbitmq-server is not installed and apt-get is not available." \
			"Install RabbitMQ 3.10 or newer by other means and run this again." "${rabbit_hint[@]}"
	if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
		die "rabbitmq-server is not installed and installing it needs root." \
			"Run as root: apt-get install rabbitmq-server" "${rabbit_hint[@]}"
	fi

	say "installing rabbitmq-server (apt-get)..."
	local t0=$SECONDS
	# Keep the package's maintainer scripts from starting the service:
	# there may be no init system, and this script starts it itself.
	local own_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		own_policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$own_policy" >/dev/null
		as_root chmod 755 "$own_policy"
	fi
	local ok=1
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
		-o DPkg::Lock::Timeout=120 >"$LOG_DIR/apt.log" 2>&1 || ok=0
	if [ "$ok" = 1 ]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=120 rabbitmq-server >>"$LOG_DIR/apt.log" 2>&1 || ok=0
	fi
	if [ -n "$own_policy" ]; then as_root rm -f "$own_policy"; fi
	if [ "$ok" != 1 ] || ! rabbit_installed; then
		tail -n 20 "$LOG_DIR/apt.log" >&2 || true
		die "could not install rabbitmq-server with apt-get (full log: $LOG_DIR/apt.log)." \
			"Install it by hand (apt-get install rabbitmq-server) and run this again." "${rabbit_hint[@]}"
	fi
	say "rabbitmq-server installed ($((SECONDS - t0))s)"
}

rabbit_up() {
	if skip_rabbit; then
		say "RabbitMQ: skipped (IGOT_INFRA_SKIP_RABBITMQ set)"
		return 0
	fi
	if port_open "$AMQP_HOST" "$AMQP_PORT"; then
		if rabbit_installed && rabbit_ping; then
			say "RabbitMQ: already running at $AMQP_URL"
			return 0
		fi
		die "port $AMQP_PORT is in use, but not by a RabbitMQ node that rabbitmq-diagnostics can reach." \
			"Stop whatever listens on $AMQP_HOST:$AMQP_PORT, or use it as the broker:" "${rabbit_hint[@]}"
	fi

	rabbit_install

	if ! rabbit_ping; then
		say "RabbitMQ: starting (rabbitmq-server -detached)..."
		rabbit_start >>"$LOG_DIR/rabbitmq-start.log" 2>&1 9>&- </dev/null ||
			warn "rabbitmq-server -detached exited non-zero (see $LOG_DIR/rabbitmq-start.log)"
	fi

	say "RabbitMQ: waiting until ready (up to ${TIMEOUT}s)..."
	local deadline=$((SECONDS + TIMEOUT))
	until rabbit_ping; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			die "RabbitMQ did not answer rabbitmq-diagnostics ping within ${TIMEOUT}s." \
				"Logs: /var/log/rabbitmq/ and $LOG_DIR/rabbitmq-start.log" "${rabbit_hint[@]}"
		fi
		sleep 1
	done
	# The node answers ping before the broker application has finished booting.
	local left=$((deadline - SECONDS))
	[ "$left" -lt 5 ] && left=5
	as_root rabbitmqctl -q await_startup --timeout "$left" >/dev/null 2>&1 ||
		die "RabbitMQ node is up but the broker did not finish starting within ${TIMEOUT}s." \
			"Logs: /var/log/rabbitmq/" "${rabbit_hint[@]}"
	until port_open "$AMQP_HOST" "$AMQP_PORT"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			die "RabbitMQ is running but nothing listens on $AMQP_HOST:$AMQP_PORT." \
				"Check listeners in /etc/rabbitmq/ and the logs in /var/log/rabbitmq/." "${rabbit_hint[@]}"
		fi
		sleep 1
	done
	say "RabbitMQ: ready at $AMQP_URL"
}

rabbit_down() {
	if skip_rabbit; then
		say "RabbitMQ: skipped (IGOT_INFRA_SKIP_RABBITMQ set)"
		return 0
	fi
	if ! rabbit_installed || ! rabbit_ping; then
		say "RabbitMQ: not running"
		return 0
	fi
	say "RabbitMQ: stopping..."
	as_root rabbitmqctl -q stop >/dev/null 2>&1 || warn "rabbitmqctl stop failed"
	say "RabbitMQ: stopped"
}

rabbit_status() {
	if skip_rabbit; then
		say "RabbitMQ: skipped (IGOT_INFRA_SKIP_RABBITMQ set)"
		return 0
	fi
	if ! rabbit_installed; then
		say "RabbitMQ: not installed"
		return 1
	fi
	if rabbit_running; then
		local v
		v="$(as_root rabbitmqctl -q version 2>/dev/null || true)"
		say "RabbitMQ: running${v:+ (version $v)} at $AMQP_URL"
		return 0
	fi
	say "RabbitMQ: not running"
	return 1
}

# ---------------------------------------------------------------- FerretDB

mongo_hint=(
	"To use an existing MongoDB-compatible server instead, run with IGOT_INFRA_SKIP_MONGO=1"
	"and point the tests at it with IGOT_MONGO_URL=mongodb://host:27017/."
)

find_go() {
	if [ -n "${GO:-}" ]; then
		printf '%s\n' "$GO"
	elif command -v go >/dev/null 2>&1; then
		command -v go
	elif [ -x /usr/local/go/bin/go ]; then
		printf '%s\n' /usr/local/go/bin/go
	else
		return 1
	fi
}

# ferret_stale: true if the binary is missing or older than its sources.
ferret_stale() {
	[ -x "$FERRET_BIN" ] || return 0
	[ -n "$(find "$FERRET_SRC" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) \
		-newer "$FERRET_BIN" -print -quit)" ]
}

FERRET_REBUILT=0

ferret_build() {
	ferret_stale || return 0
	local go
	go="$(find_go)" ||
		die "Go is needed to build the local MongoDB server (tools/ferretdb) but was not found." \
			"Install Go 1.24 or newer (or set GO=/path/to/go) and run this again." "${mongo_hint[@]}"
	say "FerretDB: building ${FERRET_BIN#"$ROOT/"} with $("$go" version | awk '{print $3}') (about a minute on a first build)..."
	local t0=$SECONDS tmp="$FERRET_BIN.tmp.$$"
	mkdir -p "$(dirname "$FERRET_BIN")"
	# The PostgreSQL backend is left out: only SQLite is used.
	if ! (cd "$FERRET_SRC" && "$go" build -trimpath -tags ferretdb_no_postgresql -o "$tmp" .) \
		>"$LOG_DIR/ferretdb-build.log" 2>&1; then
		rm -f "$tmp"
		tail -n 20 "$LOG_DIR/ferretdb-build.log" >&2 || true
		die "building tools/ferretdb failed (full log: $LOG_DIR/ferretdb-build.log)." \
			"It needs Go 1.24+ and access to the Go module proxy (or a filled module cache)." \
			"${mongo_hint[@]}"
	fi
	mv -f "$tmp" "$FERRET_BIN"
	FERRET_REBUILT=1
	say "FerretDB: built in $((SECONDS - t0))s"
}

ferret_pid() {
	local pid
	[ -f "$FERRET_PID" ] || return 1
	pid="$(cat "$FERRET_PID" 2>/dev/null)" || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid belonging to another program.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'igot-ferretdb' || return 1
	printf '%s\n' "$pid"
}

have_pymongo() {
	[ -x "$PY" ] && "$PY" -c 'import pymongo' >/dev/null 2>&1
}

# mongo_ping: true if a MongoDB-compatible server answers {ping: 1} at MONGO_URL.
# Uses the project's virtualenv (pymongo) when present, else a plain OP_MSG
# exchange with the system python3, else only checks that the port is open.
mongo_ping() {
	if have_pymongo; then
		"$PY" - "$MONGO_URL" >/dev/null 2>&1 <<'EOF'
import sys
import pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
try:
    client.admin.command("ping")
finally:
    client.close()
EOF
	elif command -v python3 >/dev/null 2>&1; then
		python3 - "$MONGO_HOST" "$MONGO_PORT" >/dev/null 2>&1 <<'EOF'
import socket, struct, sys

def cstring(s):
    return s.encode() + b"\0"

# BSON document {ping: 1, $db: "admin"}
body = b"\x10" + cstring("ping") + struct.pack("<i", 1)
body += b"\x02" + cstring("$db") + struct.pack("<i", 6) + cstring("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
payload = struct.pack("<I", 0) + b"\0" + doc  # flagBits, section kind 0
msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload  # OP_MSG

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as sock:
    sock.sendall(msg)
    data = b""
    while len(data) < 4 or len(data) < struct.unpack("<i", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
sys.exit(0 if b"\x01ok\0" + struct.pack("<d", 1.0) in data else 1)
EOF
	else
		port_open "$MONGO_HOST" "$MONGO_PORT"
	fi
}

ferret_stop() {
	local pid
	pid="$(ferret_pid)" || {
		rm -f "$FERRET_PID"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 70); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "FerretDB (pid $pid) did not stop within 35s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$FERRET_PID"
}

mongo_up() {
	if skip_mongo; then
		say "FerretDB: skipped (IGOT_INFRA_SKIP_MONGO set)"
		return 0
	fi

	ferret_build

	local pid
	if pid="$(ferret_pid)"; then
		if [ "$FERRET_REBUILT" = 1 ]; then
			say "FerretDB: restarting with the new build..."
			ferret_stop
		elif mongo_ping; then
			say "FerretDB: already running at $MONGO_URL (pid $pid)"
			return 0
		fi
	fi

	if ! ferret_pid >/dev/null && port_open "$MONGO_HOST" "$MONGO_PORT"; then
		if mongo_ping; then
			say "FerretDB: a MongoDB-compatible server already answers at $MONGO_URL (not started by this script); using it"
			return 0
		fi
		die "port $MONGO_PORT is in use by something that does not answer MongoDB ping." \
			"Stop whatever listens on $MONGO_HOST:$MONGO_PORT." "${mongo_hint[@]}"
	fi

	if ! ferret_pid >/dev/null; then
		say "FerretDB: starting (data: ${FERRET_DATA#"$ROOT/"}, log: ${FERRET_LOG#"$ROOT/"})..."
		mkdir -p "$FERRET_DATA"
		# Keep one previous log once it grows past 10 MiB.
		if [ -f "$FERRET_LOG" ] && [ "$(wc -c <"$FERRET_LOG")" -gt 10485760 ]; then
			mv -f "$FERRET_LOG" "$FERRET_LOG.1"
		fi
		printf '\n==== %s start\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >>"$FERRET_LOG"
		# setsid: own session, so a Ctrl-C in the calling terminal does not reach it.
		local launcher=()
		command -v setsid >/dev/null 2>&1 && launcher=(setsid)
		"${launcher[@]}" nohup "$FERRET_BIN" \
			-listen "$MONGO_HOST:$MONGO_PORT" \
			-data "$FERRET_DATA" \
			-log-level "${IGOT_FERRETDB_LOG_LEVEL:-warn}" \
			>>"$FERRET_LOG" 2>&1 </dev/null 9>&- &
		echo $! >"$FERRET_PID"
	fi

	say "FerretDB: waiting until ready (up to ${TIMEOUT}s)..."
	local deadline=$((SECONDS + TIMEOUT))
	until port_open "$MONGO_HOST" "$MONGO_PORT" && mongo_ping; do
		if ! ferret_pid >/dev/null; then
			tail -n 20 "$FERRET_LOG" >&2 || true
			die "FerretDB exited during start-up (log: $FERRET_LOG)." "${mongo_hint[@]}"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 20 "$FERRET_LOG" >&2 || true
			die "FerretDB did not answer on $MONGO_URL within ${TIMEOUT}s (log: $FERRET_LOG)." "${mongo_hint[@]}"
		fi
		sleep 0.5
	done
	say "FerretDB: ready at $MONGO_URL (pid $(ferret_pid || echo '?'))"
}

mongo_down() {
	if skip_mongo; then
		say "FerretDB: skipped (IGOT_INFRA_SKIP_MONGO set)"
		return 0
	fi
	if ! ferret_pid >/dev/null; then
		rm -f "$FERRET_PID"
		say "FerretDB: not running"
		return 0
	fi
	say "FerretDB: stopping..."
	ferret_stop
	say "FerretDB: stopped"
}

mongo_status() {
	if skip_mongo; then
		say "FerretDB: skipped (IGOT_INFRA_SKIP_MONGO set)"
		return 0
	fi
	local pid
	if pid="$(ferret_pid)" && mongo_ping; then
		say "FerretDB: running at $MONGO_URL (pid $pid)"
		return 0
	fi
	if pid="$(ferret_pid)"; then
		say "FerretDB: process $pid exists but does not answer at $MONGO_URL"
		return 1
	fi
	if port_open "$MONGO_HOST" "$MONGO_PORT" && mongo_ping; then
		say "FerretDB: not started from this checkout, but a MongoDB-compatible server answers at $MONGO_URL"
		return 0
	fi
	say "FerretDB: not running"
	return 1
}

# ---------------------------------------------------------------- main

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
	local cmd="${1:-}"
	case "$cmd" in
	up | down | status) ;;
	-h | --help | help)
		usage
		return 0
		;;
	*)
		usage >&2
		return 2
		;;
	esac

	mkdir -p "$RUN_DIR" "$LOG_DIR"

	# One up/down at a time per checkout. The servers are started with fd 9
	# closed so that they do not keep holding the lock.
	if [ "$cmd" != status ] && command -v flock >/dev/null 2>&1; then
		exec 9>"$RUN_DIR/infra.lock"
		flock -w 300 9 || die "another scripts/infra.sh up/down is still running (lock: $RUN_DIR/infra.lock)"
	fi

	case "$cmd" in
	up)
		local t0=$SECONDS
		rabbit_up
		mongo_up
		say "all up in $((SECONDS - t0))s: AMQP $AMQP_URL, MongoDB $MONGO_URL"
		;;
	down)
		mongo_down
		rabbit_down
		;;
	status)
		local rc=0
		rabbit_status || rc=1
		mongo_status || rc=1
		return "$rc"
		;;
	esac
}

main "$@"
