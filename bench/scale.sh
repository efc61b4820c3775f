#!/usr/bin/env bash
# bench/scale.sh — a fleet of N simulated devices (bench/fleetsim) against
# ward-server, one campaign to all of them, from nothing. A benchmark, not a
# test: it prints one results table and fails only when something does not
# work (a device that never becomes healthy within TIMEOUT is a failure).
#
# For each configuration in CONFIGS:
#   sqlite  one ward-server on SQLite (the embedded default)
#   pg      one ward-server on PostgreSQL (a throwaway server from
#           scripts/pg-throwaway, restarted with durable settings: fsync,
#           synchronous_commit and full_page_writes on, as in production)
#   pg2     two ward-server instances (two ports, the same deployment
#           directory and the same PostgreSQL); fleetsim spreads the devices
#           over both
# it runs: `ward init`; a release image (IMAGE_KIB random bytes, bench-hw
# 2.0.0) added to a `ward repo` and linked in as DIR/repo; a batch of N
# (`ward batch create --json`); ward-server; N enrolments over EST with
# `loadgen enroll --save` (a P-256 key and certificate per device); fleetsim
# with every device, until each has checked in once and one more INTERVAL
# has passed; then the campaign (`ward campaign create DIR --image ...
# --select model=scale-1 --phases PHASES --max-failure MAX_FAILURE`, `ward
# campaign start`; fleetsim gets SIGUSR1 just before the start, which is t=0)
# and waits until every device reported healthy (or TIMEOUT). When this
# build's `ward` has no `campaign` command yet, every device is assigned the
# image with `ward device assign` instead (ASSIGN_JOBS at a time), and the
# table says so.
#
# Recorded per configuration: offered_s (t=0 until the last device's
# director named the image), healthy_s (until the last device reported
# healthy), ward-server CPU seconds from t=0 until then (user+system of the
# parent and every worker, all instances, from /proc/PID/stat), fleetsim's
# own CPU seconds in the same window, PostgreSQL's (the postmaster and all
# its processes, with the number of transactions committed) in the same
# window, each worker's peak RSS (VmHWM, over the
# whole run including the enrolments), the database size at the end (SQLite:
# ward.db + -wal + -shm; PostgreSQL: pg_database_size), requests, errors and
# the p50/p99 latency fleetsim saw (whole run). With a campaign, also its
# final state, its counts by phase and when each phase started (the audit
# log's campaign-start / -phase / -pause / -finish records, whole seconds
# after t=0); and the load average (/proc/loadavg) before the enrolments, at
# t=0 and at the end, since the machine may be shared.
#
# It fails (exit 1) when a step does not work, when a device is not healthy
# by TIMEOUT or when the campaign did not finish; on failure the scratch
# directory is kept with every log (ward-server's, fleetsim's, PostgreSQL's,
# the campaign's JSON and audit records, the SQLite database), without the
# device keys and PostgreSQL's data directory.
#
# Environment:
#   BUILD=build           meson build dir (cli/ward, server/ward-server,
#                         bench/loadgen, bench/fleetsim); use a release build
#   N=10000               devices;  INTERVAL=10 seconds between check-ins
#   CONFIGS="sqlite pg pg2"
#   WORKERS=2             workers per ward-server instance
#   THREADS=2             fleetsim threads
#   RAMP=                 seconds over which the first check-ins are spread
#                         (default: INTERVAL, at least N/400)
#   REQUEST_TIMEOUT=      ward.conf request_timeout (default 3 x INTERVAL + 10,
#                         at least 10: longer than a device's sleep, so the
#                         keep-alive session survives between check-ins)
#   REBOOT=2              simulated reboot seconds;  FAIL_RATE=0 (fleetsim --fail-rate)
#   PHASES=1,10,50,100    MAX_FAILURE=5;  IMAGE_KIB=64
#   TIMEOUT=1800          seconds the campaign may take
#   ENROLL_CONC=32        concurrent enrolments;  ASSIGN_JOBS=4
#   OFFER=auto            campaign | assign | auto (campaign when `ward
#                         campaign --help` works)
#   BENCH_DIR=...         scratch directory (default: a fresh one under /tmp);
#                         removed at the end unless BENCH_KEEP=1
#   PG_BINDIR=/usr/lib/postgresql/15/bin
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$here/build}
N=${N:-10000}
INTERVAL=${INTERVAL:-10}
CONFIGS=${CONFIGS:-sqlite pg pg2}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-2}
REBOOT=${REBOOT:-2}
FAIL_RATE=${FAIL_RATE:-0}
PHASES=${PHASES:-1,10,50,100}
MAX_FAILURE=${MAX_FAILURE:-5}
IMAGE_KIB=${IMAGE_KIB:-64}
TIMEOUT=${TIMEOUT:-1800}
ENROLL_CONC=${ENROLL_CONC:-32}
ASSIGN_JOBS=${ASSIGN_JOBS:-4}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
WARD=$BUILD/cli/ward
SERVER=$BUILD/server/ward-server
LOADGEN=$BUILD/bench/loadgen
FLEETSIM=$BUILD/bench/fleetsim
MODEL=scale-1
HW=bench-hw
IMAGE=$HW/2.0.0.img

die() {
	echo "scale.sh: $*" >&2
	exit 1
}
for v in N INTERVAL WORKERS THREADS TIMEOUT ENROLL_CONC ASSIGN_JOBS IMAGE_KIB; do
	case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive whole number" ;; esac
done
for c in $CONFIGS; do
	case $c in sqlite | pg | pg2) ;; *) die "unknown configuration $c (sqlite, pg, pg2)" ;; esac
done
RAMP=${RAMP:-$(awk -v i="$INTERVAL" -v n="$N" 'BEGIN { r = n / 400; print (i > r ? i : r) }')}
REQUEST_TIMEOUT=${REQUEST_TIMEOUT:-$((3 * INTERVAL + 10))}
for tool in python3 awk "$WARD" "$SERVER" "$LOADGEN" "$FLEETSIM"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (meson setup BUILD --buildtype=release && ninja -C BUILD; BUILD=$BUILD)"
done
buildtype=$(python3 -c 'import json,sys; print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"]=="buildtype"))' \
	"$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)
# one socket per device in fleetsim, one per device over the servers' workers
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((N + 512)) ] || die "ulimit -n is $(ulimit -n): fleetsim needs more than N + 512 file descriptors"
case ${OFFER:-auto} in
campaign) have_campaign=1 ;;
assign) have_campaign=0 ;;
auto) if "$WARD" campaign --help >/dev/null 2>&1; then have_campaign=1; else have_campaign=0; fi ;;
*) die "OFFER must be campaign, assign or auto" ;;
esac

work=${BENCH_DIR:-$(mktemp -d /tmp/ward-scale.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
chmod 0755 "$work" # the postgres user must traverse it (scripts/pg-throwaway)
server_pids=() fleetsim_pid="" pg_dir=""

stop_servers() {
	local p
	for p in "${server_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	server_pids=()
}
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	local rc=$?
	if [ -n "$fleetsim_pid" ]; then
		kill -TERM "$fleetsim_pid" 2>/dev/null || true
		wait "$fleetsim_pid" 2>/dev/null || true
	fi
	stop_servers
	if [ -n "$pg_dir" ]; then "$here/scripts/pg-throwaway" stop "$pg_dir" >/dev/null 2>&1 || true; fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "scale.sh: kept $work"
	elif [ "$rc" != 0 ]; then
		# a failure: keep the logs (servers', fleetsim's, PostgreSQL's, the
		# campaign commands' output) and the SQLite database; drop the device
		# keys, the image repository and PostgreSQL's data directory
		rm -rf "$work"/ids-* "$work"/maker "$work"/image-*.img
		find "$work" -maxdepth 2 -name 'pgdata-*' -type d -exec sh -c 'rm -rf "$1"/data' _ {} \;
		echo "scale.sh: failed (exit $rc); logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tck=$(getconf CLK_TCK)
# user+system clock ticks of the given pids (gone ones count 0)
ticks() {
	local p sum=0 f
	for p in "$@"; do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		# shellcheck disable=SC2086
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
# every ward-server process: the parents and their workers
server_procs() {
	local p
	for p in "${server_pids[@]}"; do
		echo "$p"
		pgrep -P "$p" || true
	done | tr '\n' ' '
}
worker_procs() {
	local p
	for p in "${server_pids[@]}"; do pgrep -P "$p" || true; done | tr '\n' ' '
}
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }

# ---- the release: one image repository for every configuration -----------------------
maker=$work/maker
"$WARD" repo init "$maker" --unencrypted-keys >/dev/null
head -c $((IMAGE_KIB * 1024)) /dev/urandom >"$work/image-2.0.0.img"
"$WARD" repo add "$maker" "$work/image-2.0.0.img" --name "$IMAGE" --hardware-id "$HW" --version 2.0.0 >/dev/null
consistent=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["signed"]["consistent_snapshot"]))' \
	"$maker/repo/metadata/root.json")
cs_opt=()
[ "$consistent" = 1 ] || cs_opt=(--no-consistent-snapshot)

# start one ward-server instance on CONF; appends to server_pids, sets PORT
start_server() {
	local conf=$1 log=$2 pid
	: >"$log"
	"$SERVER" -c "$conf" --listen 127.0.0.1:0 --workers "$WORKERS" >"$log" 2>&1 &
	pid=$!
	server_pids+=("$pid")
	for _ in $(seq 150); do
		PORT=$(sed -n 's|^ward-server: listening on https://127.0.0.1:\([0-9]*\) .*|\1|p' "$log")
		if [ -n "$PORT" ] && [ "$(pgrep -P "$pid" | wc -l)" -ge "$WORKERS" ]; then
			sleep 0.3
			return
		fi
		kill -0 "$pid" 2>/dev/null || die "ward-server did not start: $(cat "$log")"
		sleep 0.1
	done
	die "ward-server did not say where it listens: $(cat "$log")"
}

pg_start() {
	pg_dir=$work/pgdata-$cfg
	local uri port
	uri=$("$here/scripts/pg-throwaway" start "$pg_dir") || die "scripts/pg-throwaway start failed"
	port=${uri##*:}
	port=${port%%/*}
	# pg-throwaway runs with fsync and synchronous_commit off (for tests);
	# measure what production runs: restart it with PostgreSQL's defaults.
	runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
	runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir/sock -c max_connections=100" start >/dev/null ||
		die "PostgreSQL did not restart: $(tail -n 5 "$pg_dir/server.log")"
	PG_URI=$uri PG_PORT=$port
}
pg_stop() {
	if [ -n "$pg_dir" ]; then
		"$here/scripts/pg-throwaway" stop "$pg_dir" >/dev/null 2>&1 || true
		pg_dir=""
	fi
}
# PostgreSQL's CPU ticks: the postmaster with its exited children (cutime,
# cstime) and every live child (the servers' backends, the WAL writer, ...)
pg_ticks() {
	local pm f sum
	pm=$(head -n 1 "$pg_dir/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	f=$(cat "/proc/$pm/stat" 2>/dev/null) || { echo 0; return; }
	f=${f##*) }
	# shellcheck disable=SC2086
	set -- $f
	sum=$((${12} + ${13} + ${14} + ${15}))
	# shellcheck disable=SC2046
	echo $((sum + $(ticks $(pgrep -P "$pm"))))
}
# committed transactions in the ward database so far
pg_xacts() {
	runuser -u postgres -- psql -h "$pg_dir/sock" -p "$PG_PORT" -U ward -d ward -Atc \
		"select xact_commit from pg_stat_database where datname = 'ward'" 2>/dev/null || echo 0
}
pg_size() {
	runuser -u postgres -- psql -h "$pg_dir/sock" -p "$PG_PORT" -U ward -d ward -Atc "select pg_database_size('ward')"
}

# campaign to every device of MODEL; fallback: assign each device
campaign() { # dep ids_dir
	local dep=$1 ids=$2 out id
	if [ "$have_campaign" = 1 ]; then
		out=$("$WARD" campaign create -c "$dep/ward.conf" --image "$IMAGE" --select "model=$MODEL" \
			--phases "$PHASES" --max-failure "$MAX_FAILURE" --name "scale $cfg" --json 2>&1) ||
			die "ward campaign create failed: $out"
		id=$(python3 -c 'import json,sys
try:
    print(json.loads(sys.argv[1])["id"])
except Exception:
    import re
    m = re.search(r"\b([0-9a-f]{8,})\b", sys.argv[1])
    print(m.group(1) if m else "")' "$out")
		[ -n "$id" ] || die "cannot find the campaign id in: $out"
		echo "$out" >"$work/campaign.out"
		kill -USR1 "$fleetsim_pid"
		"$WARD" campaign start -c "$dep/ward.conf" "$id" >>"$work/campaign.out" 2>&1 || die "ward campaign start failed: $(cat "$work/campaign.out")"
		CAMPAIGN_ID=$id
	else
		kill -USR1 "$fleetsim_pid"
		find "$ids" -name '*.pem' -printf '%f\n' | sed 's/\.pem$//' |
			xargs -P "$ASSIGN_JOBS" -I{} "$WARD" device assign {} --image "$IMAGE" -c "$dep/ward.conf" \
				>/dev/null 2>"$work/assign.err" || die "ward device assign failed: $(head -n 3 "$work/assign.err")"
		CAMPAIGN_ID="(assign)"
	fi
}

echo "ward scale test: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "  build $BUILD ($buildtype); N=$N interval ${INTERVAL}s ramp ${RAMP}s request_timeout ${REQUEST_TIMEOUT}s workers $WORKERS per instance; fleetsim threads $THREADS; image ${IMAGE_KIB} KiB; phases $PHASES"
if [ "$have_campaign" = 1 ]; then
	echo "  offers: ward campaign (max failure $MAX_FAILURE%)"
else
	echo "  offers: NOTE no campaign (OFFER=${OFFER:-auto}): each device gets 'ward device assign' ($ASSIGN_JOBS at a time)"
fi
[ "$buildtype" = release ] || echo "  NOTE: build type is $buildtype, not release"

rows=()
for cfg in $CONFIGS; do
	echo
	echo "== $cfg (load average $(loadavg))"
	load_before=$(loadavg)
	dep=$work/$cfg
	"$WARD" init "$dep" --unencrypted-keys >/dev/null
	sed -i -e "s|^request_timeout = .*|request_timeout = $REQUEST_TIMEOUT|" \
		-e "s|^checkin_interval = .*|checkin_interval = $((INTERVAL < 5 ? 5 : INTERVAL))|" "$dep/ward.conf"
	instances=1
	if [ "$cfg" != sqlite ]; then
		pg_start
		sed -i "s|^uri = .*|uri = $PG_URI|" "$dep/ward.conf"
		[ "$cfg" = pg2 ] && instances=2
	fi
	ln -s "$maker/repo" "$dep/repo"
	json=$("$WARD" batch create -c "$dep/ward.conf" --model "$MODEL" --count "$N" --expires 1d --json)
	user=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["username"])' "$json")
	(umask 077 && python3 -c 'import json,sys; print(json.loads(sys.argv[1])["password"])' "$json" >"$dep/batch.pass")
	targets=""
	for i in $(seq "$instances"); do
		start_server "$dep/ward.conf" "$work/server-$cfg-$i.log"
		targets=${targets:+$targets,}127.0.0.1:$PORT
	done

	t=$(now)
	out=$("$LOADGEN" enroll -t "$targets" --user "$user" --password-file "$dep/batch.pass" --model "$MODEL" \
		--count "$N" --concurrency "$ENROLL_CONC" --prefix "$cfg-" --save "$work/ids-$cfg" --timeout 3600 2>&1) ||
		die "enrolment failed: $out"
	enrolled=$(find "$work/ids-$cfg" -name '*.pem' | wc -l)
	[ "$enrolled" = "$N" ] || die "enrolled $enrolled of $N devices: $out"
	echo "  enrolled $N devices in $(since "$t") s: $(grep '^loadgen: mode' <<<"$out" | grep -o 'rate=[^ ]*')/s"

	log=$work/fleetsim-$cfg.log
	"$FLEETSIM" -t "$targets" --identities "$work/ids-$cfg" --devices "$N" --threads "$THREADS" \
		--interval "$INTERVAL" --ramp "$RAMP" --reboot "$REBOOT" --fail-rate "$FAIL_RATE" \
		--hardware-id "$HW" --version 1.0.0 --image "$IMAGE" --director-root "$dep/ca/director-root.json" \
		"${cs_opt[@]}" --progress 10 --until-done --duration $((TIMEOUT + 3600)) >"$log" 2>&1 &
	fleetsim_pid=$!
	t=$(now)
	until grep -q '^fleetsim: all .* devices checked in' "$log"; do
		kill -0 "$fleetsim_pid" 2>/dev/null || die "fleetsim ended: $(tail -n 5 "$log")"
		awk -v a="$t" -v b="$(now)" -v l="$TIMEOUT" 'BEGIN { exit !(b - a > l) }' &&
			die "not every device checked in within ${TIMEOUT}s: $(tail -n 2 "$log")"
		sleep 1
	done
	echo "  $(grep '^fleetsim: all' "$log" | sed 's/^fleetsim: //'); settling for ${INTERVAL}s"
	sleep "$INTERVAL"

	# ---- the campaign: t=0 -------------------------------------------------------------
	read -r -a sp <<<"$(server_procs)"
	srv0=$(ticks "${sp[@]}")
	pgc0=0 pgx0=0
	if [ "$cfg" != sqlite ]; then pgc0=$(pg_ticks); pgx0=$(pg_xacts); fi
	fs0=$(ticks "$fleetsim_pid")
	fs1=$fs0
	t0=$(now)
	load_t0=$(loadavg)
	campaign "$dep" "$work/ids-$cfg"
	echo "  campaign $CAMPAIGN_ID started (offers made in $(since "$t0") s, load average $load_t0); waiting for every device to be healthy"
	deadline=$(awk -v a="$t0" -v l="$TIMEOUT" 'BEGIN { printf "%.0f", a + l }')
	while kill -0 "$fleetsim_pid" 2>/dev/null; do
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "  TIMEOUT after ${TIMEOUT}s: $({ grep '^fleetsim: t=' "$log" || true; } | tail -n 1)"
			kill -TERM "$fleetsim_pid"
			break
		fi
		# the CPU fleetsim used so far (it is gone once it exits)
		fs1=$(ticks "$fleetsim_pid")
		sleep 1
	done
	read -r -a sp <<<"$(server_procs)"
	srv1=$(ticks "${sp[@]}")
	pgc1=0 pgx1=0
	if [ "$cfg" != sqlite ]; then pgc1=$(pg_ticks); pgx1=$(pg_xacts); fi
	load_end=$(loadavg)
	wait "$fleetsim_pid" || true
	fleetsim_pid=""
	summary=$(grep '^fleetsim: devices=' "$log" || true)
	[ -n "$summary" ] || die "fleetsim printed no summary: $(tail -n 5 "$log")"
	{ grep '^fleetsim: t=' "$log" || true; } | tail -n 3 | sed 's/^/  /' # none when the run was short
	echo "  $summary"
	grep '^fleetsim: first error' "$log" | sed 's/^/  /' || true

	camp_state="-" phase_times="-"
	if [ "$have_campaign" = 1 ]; then
		# the campaign as the database has it (the engine marks it finished at its
		# next step, within a second of the last report), and when each phase
		# started (audit log, 1 s resolution)
		if [ "$(kv "$summary" healthy_s)" != "-" ]; then
			"$WARD" campaign wait -c "$dep/ward.conf" "$CAMPAIGN_ID" --state finished,paused,cancelled --timeout 30s \
				>/dev/null 2>&1 || true
		fi
		"$WARD" campaign show -c "$dep/ward.conf" "$CAMPAIGN_ID" --json >"$work/campaign-$cfg.json" 2>&1 || true
		"$WARD" audit list -c "$dep/ward.conf" --subject "$CAMPAIGN_ID" --limit 1000 --json \
			>"$work/audit-$cfg.json" 2>&1 || true
		read -r camp_state phase_times < <(python3 - "$work/campaign-$cfg.json" "$work/audit-$cfg.json" "$t0" <<'PY' || echo "? ?"
import json, sys
c = json.load(open(sys.argv[1]))
recs = json.load(open(sys.argv[2]))["records"]
t0 = int(float(sys.argv[3]))
marks = []
for r in recs:
    if r["event"] in ("campaign-start", "campaign-phase", "campaign-pause", "campaign-finish"):
        marks.append("%s@%d" % (r["event"].split("-")[1], r["time"] - t0))
print(c["state"], ",".join(marks) or "-")
PY
		)
		echo "  campaign $CAMPAIGN_ID: $camp_state; events (s after t=0, whole seconds): $phase_times"
		python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
print("  reason: " + c["reason"])
for i, p in enumerate(c["phases"]):
    print("  phase %d (%d%%): %d devices %s" % (i + 1, p["percent"], p["devices"], json.dumps(p["counts"], sort_keys=True)))' \
			"$work/campaign-$cfg.json" 2>/dev/null || sed 's/^/  /' "$work/campaign-$cfg.json"
	fi
	echo "  load average: $load_before before enrolment, $load_t0 at t=0, $load_end at the end"

	hwm=""
	for p in $(worker_procs); do hwm="${hwm:+$hwm/}$(($(hwm_kib "$p") / 1024))"; done
	srv_cpu=$(awk -v t="$((srv1 - srv0))" -v hz="$tck" 'BEGIN { printf "%.1f", t / hz }')
	pg_cpu=- pg_tx=""
	if [ "$cfg" != sqlite ]; then
		pg_cpu=$(awk -v t="$((pgc1 - pgc0))" -v hz="$tck" 'BEGIN { printf "%.1f", t / hz }')
		pg_tx=", PostgreSQL CPU ${pg_cpu}s and $((pgx1 - pgx0)) committed transactions"
	fi
	fs_cpu=$(awk -v t="$((fs1 - fs0))" -v hz="$tck" 'BEGIN { printf "%.1f", t / hz }')
	stop_servers
	if [ "$cfg" = sqlite ]; then
		db=$(($(stat -c %s "$dep/ward.db") + $(stat -c %s "$dep/ward.db-wal" 2>/dev/null || echo 0) + \
			$(stat -c %s "$dep/ward.db-shm" 2>/dev/null || echo 0)))
	else
		db=$(pg_size)
		pg_stop
	fi
	dbm=$(awk -v b="$db" 'BEGIN { printf "%.1f", b / 1048576 }')
	# expected lines: the start line, and (run as root without [server] user)
	# the warning that the workers stay root
	quiet='listening on|warning: running as root and so are the workers'
	errs=$(cat "$work"/server-"$cfg"-*.log | grep -Evc "$quiet" || true)
	if grep -q 'warning: running as root' "$work"/server-"$cfg"-*.log; then
		echo "  (ward-server ran as root, so did its workers: it warned so; not counted below)"
	fi
	echo "  server CPU ${srv_cpu}s, fleetsim CPU ${fs_cpu}s$pg_tx (from t=0 to the end), worker peak RSS ${hwm} MiB, database ${dbm} MiB, server log: $errs other lines"
	cat "$work"/server-"$cfg"-*.log | grep -Ev "$quiet" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /' || true
	rows+=("$(printf '%-7s %6s %9s %9s %9s %8s %10s %9s %9s %7s %8s %8s %-15s %8s' "$cfg" "$(kv "$summary" devices)" \
		"$(kv "$summary" offered_s)" "$(kv "$summary" healthy_s)" "$srv_cpu" "$pg_cpu" "$fs_cpu" "$(kv "$summary" requests)" \
		"$(kv "$summary" errors)" "$(kv "$summary" p50_ms)" "$(kv "$summary" p99_ms)" "$(kv "$summary" healthy)" \
		"$hwm" "$dbm")")
	rm -rf "$work/ids-$cfg"
	if [ "$(kv "$summary" healthy_s)" = "-" ] || { [ "$have_campaign" = 1 ] && [ "$camp_state" != finished ]; }; then
		failed_cfgs="${failed_cfgs:+$failed_cfgs }$cfg"
	fi
done

echo
echo "results (N=$N, interval ${INTERVAL}s, $WORKERS workers per instance; t=0 is the campaign's start)"
printf '%-7s %6s %9s %9s %9s %8s %10s %9s %9s %7s %8s %8s %-15s %8s\n' config devices offered_s healthy_s srv_cpu_s pg_cpu_s fleetsim_s \
	requests errors p50_ms p99_ms healthy "worker_HWM_MiB" db_MiB
for r in "${rows[@]}"; do echo "$r"; done
echo "(srv_cpu_s, pg_cpu_s and fleetsim_s: CPU seconds from t=0 until the last device was healthy; requests, errors and"
echo " latencies: fleetsim's whole run; worker_HWM_MiB: VmHWM of each worker over the whole run)"
[ -z "${failed_cfgs:-}" ] || die "not every device became healthy, or the campaign did not finish, in: $failed_cfgs"
