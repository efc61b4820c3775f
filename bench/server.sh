#!/usr/bin/env bash
# bench/server.sh — ward-server's enrolment and check-in throughput against
# the limits of this machine, in one run. A benchmark, not a test: it prints
# numbers, ratios and PASS/MISS lines, and fails only when something does not
# work.
#
# One run, on a fresh deployment (`ward init --unencrypted-keys`) served by
# ward-server with WORKERS workers (SQLite, the embedded default):
#   (1) openssl speed -seconds 3 ecdsap256: sign/s and verify/s of one core,
#       the arithmetic limit of enrolment (per enrolment the server signs
#       twice, TLS and the certificate, and verifies the CSR once)
#   (2) the mutual-TLS handshake rate of HS_PEERS `openssl s_server -www`
#       processes (single-threaded each; as many as ward has workers), same
#       certificate, key, client CA and TLS settings as ward-server (no
#       tickets, no session cache), driven by `loadgen handshake`: the
#       handshake-bound limit. Also ward-server's own handshake rate (same
#       loadgen mode), to separate its TLS layer from its request handling.
#   (3) enrolments/s: `loadgen enroll`, a new TLS connection per request with
#       a fresh CSR (keys and CSRs made before the clock starts)
#   (4) check-ins/s: `loadgen checkin`, CHECKIN_CONNS keep-alive mutual-TLS
#       sessions, one device each (certificates from loadgen enroll --save),
#       with p50/p99, the workers' RSS (sum of VmRSS, sampled every 0.2 s),
#       and the CPU each party used
#   (4b) the same check-ins with ward.db copied to tmpfs (fsync costs
#       nothing there): how much of (4) is the disk
#   (5) with PostgreSQL (PG=1, default when it is installed): a throwaway
#       server from scripts/pg-throwaway, restarted with durable settings
#       (fsync, synchronous_commit and full_page_writes on, as in production;
#       the script's own settings turn them off for tests), then (3) and (4)
# Every measurement runs RUNS times, interleaved, and the best run is kept.
# Then it prints the ratios and two goals as PASS/MISS lines:
#   enrolments/s / handshake-bound rate >= 0.5, check-ins/s >= 20000.
#
# The load generator shares the machine with the server (and, on a shared
# development VM, with whatever else runs): every number is a lower bound.
# Each phase prints the CPU the server, the peer, loadgen and everything
# else used, in cores, so a run disturbed by other work can be recognised.
#
# Environment:
#   BUILD=build        meson build directory with cli/ward, server/ward-server,
#                      bench/loadgen (use -Dbuildtype=release; the script says
#                      which build type it measured)
#   WORKERS=2          ward-server workers; HS_PEERS=$WORKERS s_server processes
#   RUNS=3             repetitions of each measurement (best kept)
#   ENROLL_COUNT=1000  enrolments per run;  ENROLL_CONC=32 in flight at once
#   HS_CONNS=32        concurrent handshakes; CHECKIN_CONNS=64 sessions
#   DURATION=5         seconds per duration measurement (after WARMUP=1)
#   THREADS=1          loadgen threads
#   TMPFS=1            run (4b);  PG=auto|0|1  run (5)
#   BENCH_DIR=...      scratch directory (default: a fresh one under /tmp);
#                      removed at the end unless BENCH_KEEP=1
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$here/build}
WORKERS=${WORKERS:-2}
HS_PEERS=${HS_PEERS:-$WORKERS}
RUNS=${RUNS:-3}
ENROLL_COUNT=${ENROLL_COUNT:-1000}
ENROLL_CONC=${ENROLL_CONC:-32}
HS_CONNS=${HS_CONNS:-32}
CHECKIN_CONNS=${CHECKIN_CONNS:-64}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-1}
TMPFS=${TMPFS:-1}
PG=${PG:-auto}
WARD=$BUILD/cli/ward
SERVER=$BUILD/server/ward-server
LOADGEN=$BUILD/bench/loadgen

die() {
	echo "server.sh: $*" >&2
	exit 1
}
for v in WORKERS HS_PEERS RUNS ENROLL_COUNT ENROLL_CONC HS_CONNS CHECKIN_CONNS THREADS; do
	case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive whole number" ;; esac
done
for tool in openssl python3 awk pgrep "$WARD" "$SERVER" "$LOADGEN"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (meson setup BUILD -Dbuildtype=release && ninja -C BUILD; BUILD=$BUILD)"
done
buildtype=$(sed -n "s/^buildtype[[:space:]]*=[[:space:]]*//p" "$BUILD/meson-private/cmd_line.txt" 2>/dev/null || true)
buildtype=${buildtype:-$(python3 -c 'import json,sys; print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"]=="buildtype"))' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)}

# ---- scratch dir; everything started here stops with it ----------------------
work=${BENCH_DIR:-$(mktemp -d /tmp/ward-bench-srv.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
chmod 0755 "$work" # the postgres user must traverse it (scripts/pg-throwaway)
server_pid="" sampler_pid="" pg_dir="" shm=""
peer_pids=()

stop_server() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
stop_peers() {
	local p
	for p in "${peer_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	peer_pids=()
}
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
	if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
	stop_server
	stop_peers
	if [ -n "$pg_dir" ]; then "$here/scripts/pg-throwaway" stop "$pg_dir" >/dev/null 2>&1 || true; fi
	if [ -n "$shm" ]; then rm -rf "$shm"; fi
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "server.sh: kept $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -------------------------------------------------------------------
free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# key=value from a loadgen summary line
kv() { sed -n "s/^loadgen: mode=.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
better() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a > b) }'; }
tck=$(getconf CLK_TCK)
ncpu=$(nproc)
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
# busy ticks of the whole machine (all CPUs; not idle, not iowait)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
cores() { awk -v t="$1" -v s="$2" -v hz="$tck" 'BEGIN { if (s > 0) printf "%.2f", t / hz / s; else print "0" }'; }
workers() { pgrep -P "$server_pid" | tr '\n' ' '; }
rss_kib() {
	local p k v rest sum=0
	for p in "$@"; do
		while read -r k v rest; do
			if [ "$k" = VmRSS: ]; then sum=$((sum + v)); fi
		done 2>/dev/null <"/proc/$p/status"
	done
	echo "$sum"
}
# largest sum of the workers' VmRSS, every 0.2 s, into $1, until killed
sample_rss() {
	set +e
	local out=$1 peak=0 r
	trap 'echo "$peak" >"$out"; exit 0' TERM
	while :; do
		# shellcheck disable=SC2046
		r=$(rss_kib $(workers))
		if [ "$r" -gt "$peak" ]; then peak=$r; echo "$peak" >"$out"; fi
		sleep 0.2
	done
}

# Run loadgen with "$@", measure who used how much CPU while it ran; sets
# LG (its summary line), LG_ERR (its first error, if any), CPU_LINE.
measure() {
	local peer_ticks0 srv_ticks0 busy0 t0 t1 out wall srv peer all lgc other
	local -a wp
	read -r -a wp <<<"$(workers)"
	srv_ticks0=$(ticks "${wp[@]}")
	peer_ticks0=$(ticks "${peer_pids[@]}")
	busy0=$(busy)
	t0=$(date +%s%N)
	out=$("$LOADGEN" "$@" --threads "$THREADS" 2>"$work/loadgen.err") || die "loadgen $1 failed: $(cat "$work/loadgen.err")"
	t1=$(date +%s%N)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')
	srv=$(cores $(($(ticks "${wp[@]}") - srv_ticks0)) "$wall")
	peer=$(cores $(($(ticks "${peer_pids[@]}") - peer_ticks0)) "$wall")
	all=$(cores $(($(busy) - busy0)) "$wall")
	LG=$(grep '^loadgen: mode=' <<<"$out" || true)
	[ -n "$LG" ] || die "loadgen printed no summary: $out $(cat "$work/loadgen.err")"
	LG_ERR=$(sed -n 's/^loadgen: first error: //p' <<<"$out")
	lgc=$(awk -v p="$(kv "$LG" cpu_pct)" 'BEGIN { printf "%.2f", p / 100 }')
	other=$(awk -v a="$all" -v s="$srv" -v p="$peer" -v l="$lgc" 'BEGIN { o = a - s - p - l; printf "%.2f", o < 0 ? 0 : o }')
	CPU_LINE="cpu (cores of $ncpu): ward-server $srv, peer $peer, loadgen $lgc, everything else $other"
	# CPU time of the serving side per request: what the rate would be
	# worth if the machine were not shared is $ncpu / this
	US=$(awk -v c="$(awk -v s="$srv" -v p="$peer" 'BEGIN { print s + p }')" -v r="$(kv "$LG" rate)" \
		'BEGIN { if (r > 0) printf "%.0f", c * 1e6 / r; else print "n/a" }')
}

show() { # label
	printf '  %-34s %9s/s  p50 %7s ms  p99 %7s ms  errors %s\n' "$1" "$(kv "$LG" rate)" "$(kv "$LG" p50_ms)" \
		"$(kv "$LG" p99_ms)" "$(kv "$LG" errors)"
	printf '  %-34s %s\n' "" "$CPU_LINE"
	printf '  %-34s serving CPU per request %s us\n' "" "$US"
	if [ -n "$LG_ERR" ]; then printf '  %-34s first error: %s\n' "" "$LG_ERR"; fi
}

# ward init + a batch: DIR URI -> sets BATCH_USER, writes DIR/batch.pass
deployment() {
	local dir=$1 uri=$2 json
	"$WARD" init "$dir" --unencrypted-keys >/dev/null
	if [ "$uri" != sqlite ]; then
		sed -i "s|^uri = .*|uri = $uri|" "$dir/ward.conf"
	fi
	json=$("$WARD" batch create -c "$dir/ward.conf" --model bench-1 \
		--count $((CHECKIN_CONNS + 64 + RUNS * ENROLL_COUNT + 16)) --expires 1d --json)
	BATCH_USER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["username"])' "$json")
	(umask 077 && python3 -c 'import json,sys; print(json.loads(sys.argv[1])["password"])' "$json" >"$dir/batch.pass")
}

# start ward-server on DIR/ward.conf; sets server_pid, PORT
start_server() {
	local conf=$1 log=$2 _
	: >"$log" # exists before the server writes to it: sed below may run first
	"$SERVER" -c "$conf" --listen 127.0.0.1:0 --workers "$WORKERS" >"$log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's|^ward-server: listening on https://127.0.0.1:\([0-9]*\) .*|\1|p' "$log")
		if [ -n "$PORT" ] && [ "$(pgrep -P "$server_pid" | wc -l)" -ge "$WORKERS" ]; then
			sleep 0.3 # the workers open their database and TLS context
			return
		fi
		kill -0 "$server_pid" 2>/dev/null || die "ward-server did not start: $(cat "$log")"
		sleep 0.1
	done
	die "ward-server did not say where it listens: $(cat "$log")"
}

enroll() { # dir -> LG
	measure enroll -t "127.0.0.1:$PORT" --user "$BATCH_USER" --password-file "$1/batch.pass" \
		--model bench-1 --count "$ENROLL_COUNT" --concurrency "$ENROLL_CONC" \
		--prefix "r$2-$(date +%s)-"
}
checkin() { # idents -> LG, RSS
	local rss_file=$work/rss
	rm -f "$rss_file"
	sample_rss "$rss_file" &
	sampler_pid=$!
	measure checkin -t "127.0.0.1:$PORT" --identities "$1" --connections "$CHECKIN_CONNS" \
		--duration "$DURATION" --warmup "$WARMUP"
	kill -TERM "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	sampler_pid=""
	RSS=$(cat "$rss_file" 2>/dev/null || echo 0)
}

echo "ward-server benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $ncpu CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(openssl version | cut -d' ' -f1-2), build $BUILD ($buildtype)"
echo "  workers $WORKERS, runs $RUNS (best kept), loadgen threads $THREADS, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$buildtype" != release ]; then
	echo "  NOTE: build type is $buildtype, not release"
fi

# ---- (1) the arithmetic limit ------------------------------------------------------
echo
echo "(1) openssl speed -seconds 3 ecdsap256 (one core)"
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ { print $(NF-1), $NF }')
read -r SIGN VERIFY <<<"$speed"
[ -n "$SIGN" ] || die "openssl speed printed nothing I can read"
ecdsa_enroll=$(awk -v s="$SIGN" -v v="$VERIFY" -v n="$WORKERS" 'BEGIN { printf "%.0f", n / (2 / s + 1 / v) }')
ecdsa_hs=$(awk -v s="$SIGN" -v v="$VERIFY" -v n="$WORKERS" 'BEGIN { printf "%.0f", n / (1 / s + 2 / v) }')
printf '  sign %.0f/s, verify %.0f/s per core\n' "$SIGN" "$VERIFY"
echo "  ECDSA alone on $WORKERS cores: $ecdsa_enroll enrolments/s (2 signs + 1 verify each), $ecdsa_hs mTLS handshakes/s (1 sign + 2 verifies)"

# ---- the deployment, and device identities for the TLS modes --------------------------
dep=$work/sqlite
deployment "$dep" sqlite
start_server "$dep/ward.conf" "$work/server.log"
"$LOADGEN" enroll -t "127.0.0.1:$PORT" --user "$BATCH_USER" --password-file "$dep/batch.pass" \
	--model bench-1 --count $((CHECKIN_CONNS > 64 ? CHECKIN_CONNS : 64)) --prefix "dev-" \
	--save "$work/ids" >"$work/provision.out" 2>&1 || die "provisioning failed: $(cat "$work/provision.out")"
nids=$(find "$work/ids" -name '*.pem' | wc -l)
[ "$nids" -ge "$CHECKIN_CONNS" ] || die "provisioning made $nids device identities, need $CHECKIN_CONNS: $(cat "$work/provision.out")"
read -r -a wp <<<"$(workers)"
idle_rss=$(rss_kib "${wp[@]}")

# s_server with ward-server's certificate, key, client CA and TLS settings
openssl x509 -in "$dep/ca/server.pem" -out "$work/server-only.pem"
start_peers() {
	local _ port
	PEERS=""
	for _ in $(seq "$HS_PEERS"); do
		port=$(free_port)
		openssl s_server -quiet -www -accept "127.0.0.1:$port" -cert "$work/server-only.pem" \
			-cert_chain "$dep/ca/issuing.pem" -key "$dep/ca/server.key" \
			-Verify 2 -CAfile "$dep/ca/issuing.pem" -partial_chain -x509_strict -verify_return_error \
			-num_tickets 0 -no_cache -no_comp -groups X25519:P-256:P-384 >/dev/null 2>&1 &
		peer_pids+=($!)
		PEERS=${PEERS:+$PEERS,}127.0.0.1:$port
	done
	sleep 0.5
}

best_hs="" best_whs="" best_en="" best_ci="" best_ci_rss=0
for r in $(seq "$RUNS"); do
	echo
	echo "run $r of $RUNS"
	# (2) the handshake-bound limit
	start_peers
	measure handshake -t "$PEERS" --identities "$work/ids" --connections "$HS_CONNS" --duration "$DURATION" --warmup "$WARMUP"
	stop_peers
	show "(2) s_server x$HS_PEERS mTLS handshakes"
	if better "$(kv "$LG" rate)" "$(kv "$best_hs" rate)"; then best_hs=$LG; best_hs_us=$US; fi
	measure handshake -t "127.0.0.1:$PORT" --identities "$work/ids" --connections "$HS_CONNS" --duration "$DURATION" --warmup "$WARMUP"
	show "(2') ward-server mTLS handshakes"
	if better "$(kv "$LG" rate)" "$(kv "$best_whs" rate)"; then best_whs=$LG; best_whs_us=$US; fi
	# (3) enrolments
	enroll "$dep" "$r"
	show "(3) ward-server enrolments"
	if better "$(kv "$LG" rate)" "$(kv "$best_en" rate)"; then best_en=$LG; best_en_us=$US; fi
	# (4) check-ins
	checkin "$work/ids"
	show "(4) ward-server check-ins"
	printf '  %-34s workers RSS peak %s KiB\n' "" "$RSS"
	if better "$(kv "$LG" rate)" "$(kv "$best_ci" rate)"; then best_ci=$LG; best_ci_cpu=$CPU_LINE; best_ci_rss=$RSS; best_ci_us=$US; fi
done
stop_server

# ---- (4b) the same check-ins without the cost of fsync ---------------------------------
tmpfs_line=""
if [ "$TMPFS" = 1 ] && [ -d /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/ward-bench-srv.XXXXXX)
	# the server is stopped: its WAL is checkpointed; copy the registry as it is
	cp -a "$dep/ward.db" "$shm/ward.db"
	for f in "$dep"/ward.db-wal "$dep"/ward.db-shm; do
		if [ -e "$f" ]; then cp -a "$f" "$shm/"; fi
	done
	sed -e "s|^uri = .*|uri = sqlite:$shm/ward.db|" "$dep/ward.conf" >"$dep/ward-tmpfs.conf"
	start_server "$dep/ward-tmpfs.conf" "$work/server-tmpfs.log"
	best_tm=""
	for r in $(seq "$RUNS"); do
		checkin "$work/ids"
		if better "$(kv "$LG" rate)" "$(kv "$best_tm" rate)"; then best_tm=$LG; best_tm_cpu=$CPU_LINE; best_tm_us=$US; fi
	done
	stop_server
	LG=$best_tm CPU_LINE=$best_tm_cpu LG_ERR="" US=$best_tm_us
	echo
	echo "(4b) check-ins, ward.db on tmpfs (fsync free), best of $RUNS"
	show "ward-server check-ins (tmpfs)"
	tmpfs_line=$best_tm
fi

# ---- (5) PostgreSQL, durable -------------------------------------------------------------
pg_en="" pg_ci=""
if [ "$PG" = auto ]; then
	if [ -x "${PG_BINDIR:-/usr/lib/postgresql/15/bin}/initdb" ] && id postgres >/dev/null 2>&1; then PG=1; else PG=0; fi
fi
if [ "$PG" = 1 ]; then
	pg_bin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
	pg_dir=$work/pg
	uri=$("$here/scripts/pg-throwaway" start "$pg_dir") || die "scripts/pg-throwaway start failed"
	pg_port=${uri##*:}
	pg_port=${pg_port%%/*}
	# pg-throwaway runs with fsync and synchronous_commit off (for tests);
	# measure what production runs: restart it with PostgreSQL's defaults.
	runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
	runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir/sock -c max_connections=100" start >/dev/null ||
		die "PostgreSQL did not restart: $(tail -n 5 "$pg_dir/server.log")"
	pg_settings=$(runuser -u postgres -- psql -h "$pg_dir/sock" -p "$pg_port" -U ward -d ward -Atc \
		"select string_agg(name || '=' || setting, ' ' order by name) from pg_settings where name in ('fsync','synchronous_commit','full_page_writes')")
	pgdep=$work/pgdep
	deployment "$pgdep" "$uri"
	start_server "$pgdep/ward.conf" "$work/server-pg.log"
	"$LOADGEN" enroll -t "127.0.0.1:$PORT" --user "$BATCH_USER" --password-file "$pgdep/batch.pass" \
		--model bench-1 --count "$CHECKIN_CONNS" --prefix "pgdev-" --save "$work/pg-ids" >"$work/pg-provision.out" 2>&1 ||
		die "provisioning on PostgreSQL failed: $(cat "$work/pg-provision.out")"
	echo
	echo "(5) PostgreSQL 15 ($pg_settings), best of $RUNS"
	for r in $(seq "$RUNS"); do
		enroll "$pgdep" "pg$r"
		if better "$(kv "$LG" rate)" "$(kv "$pg_en" rate)"; then pg_en=$LG; pg_en_cpu=$CPU_LINE; pg_en_err=$LG_ERR; pg_en_us=$US; fi
		checkin "$work/pg-ids"
		if better "$(kv "$LG" rate)" "$(kv "$pg_ci" rate)"; then pg_ci=$LG; pg_ci_cpu=$CPU_LINE; pg_ci_rss=$RSS; pg_ci_err=$LG_ERR; pg_ci_us=$US; fi
	done
	stop_server
	LG=$pg_en CPU_LINE=$pg_en_cpu LG_ERR=$pg_en_err US=$pg_en_us
	show "ward-server enrolments (pg)"
	LG=$pg_ci CPU_LINE=$pg_ci_cpu LG_ERR=$pg_ci_err US=$pg_ci_us
	show "ward-server check-ins (pg)"
	printf '  %-34s workers RSS peak %s KiB\n' "" "$pg_ci_rss"
fi

# ---- summary -------------------------------------------------------------------------------
hs=$(kv "$best_hs" rate) whs=$(kv "$best_whs" rate) en=$(kv "$best_en" rate) ci=$(kv "$best_ci" rate)
echo
echo "summary (best of $RUNS; SQLite unless marked)"
printf '  %-44s %10s  %8s  %8s  %12s\n' "" "rate" "p50 ms" "p99 ms" "CPU/req us"
row() { printf '  %-44s %8s/s  %8s  %8s  %12s\n' "$1" "$(kv "$2" rate)" "$(kv "$2" p50_ms)" "$(kv "$2" p99_ms)" "$3"; }
row "s_server x$HS_PEERS, mTLS handshakes (the limit)" "$best_hs" "$best_hs_us"
row "ward-server, mTLS handshakes" "$best_whs" "$best_whs_us"
row "ward-server, enrolments (new TLS each)" "$best_en" "$best_en_us"
row "ward-server, check-ins ($CHECKIN_CONNS keep-alive)" "$best_ci" "$best_ci_us"
if [ -n "$tmpfs_line" ]; then row "ward-server, check-ins, ward.db on tmpfs" "$tmpfs_line" "$best_tm_us"; fi
if [ -n "$pg_en" ]; then
	row "ward-server, enrolments, PostgreSQL" "$pg_en" "$pg_en_us"
	row "ward-server, check-ins, PostgreSQL" "$pg_ci" "$pg_ci_us"
fi
echo "  (CPU/req: CPU time of ward-server's workers, or of s_server, per request: the cost of a"
echo "   request whatever else shares the machine; $ncpu cores / CPU/req is what the CPU alone allows)"
echo "  ECDSA bound on $WORKERS cores: $ecdsa_enroll enrolments/s, $ecdsa_hs handshakes/s"
echo "  ward-server workers: RSS $idle_rss KiB idle, peak $best_ci_rss KiB during check-ins (sum of VmRSS)"
echo "  loadgen CPU in the kept runs: handshakes $(kv "$best_hs" cpu_pct)%, enrolments $(kv "$best_en" cpu_pct)%, check-ins $(kv "$best_ci" cpu_pct)% of one core"
echo "  during the kept check-in run: $best_ci_cpu"
echo "  enrolments / handshake limit:        $(ratio "$en" "$hs")   (by CPU cost: $(ratio "$best_hs_us" "$best_en_us"))"
echo "  ward handshakes / handshake limit:   $(ratio "$whs" "$hs")"
echo "  check-ins / 20000:                   $(ratio "$ci" 20000)   (CPU alone would allow $(awk -v c="$ncpu" -v u="$best_ci_us" 'BEGIN { if (u > 0) printf "%.0f", c * 1e6 / u; else print "n/a" }')/s)"
if awk -v a="$en" -v b="$hs" 'BEGIN { exit !(b > 0 && a / b >= 0.5) }'; then r1=PASS; else r1=MISS; fi
if awk -v a="$ci" 'BEGIN { exit !(a >= 20000) }'; then r2=PASS; else r2=MISS; fi
echo "$r1 enrolments/s >= 0.5 x the mTLS handshake limit ($en/s vs $hs/s)"
echo "$r2 check-ins/s >= 20000 ($ci/s, $CHECKIN_CONNS keep-alive sessions)"
echo "(loadgen shares the $ncpu CPUs with the server: these rates are lower bounds)"
