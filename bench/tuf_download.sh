#!/usr/bin/env bash
# bench/tuf_download.sh — how close `ward tuf download` comes to the limit of
# the machine, and how much memory it needs. A benchmark, not a test: it
# prints numbers and fails only when something does not work.
#
# One run: make a random target of SIZE_MIB MiB, put it in a repository made
# by `ward repo init`/`ward repo add`, serve the repository over loopback, then
# measure, RUNS times each, keeping the best:
#   limit    curl -s -o X URL && sha256sum X   (fetch + hash, as the brief of
#            this benchmark defines the limit; coreutils' sha256sum does not
#            use the CPU's SHA extensions, so it is slow on such CPUs)
#   limit'   curl -s -o X URL && openssl dgst -sha256 X   (the same with
#            OpenSSL's SHA-256, which is what ward uses: the tighter limit)
#   ward     ward tuf download into an empty target dir, from a fresh metadata
#            dir (init is not timed; refresh, download and verify are), under
#            /usr/bin/time -v for the peak RSS
# and print throughput in MiB/s, ward's throughput as a fraction of each
# limit, and ward's peak RSS. Streaming verification means the RSS should not
# grow with SIZE_MIB: run SIZE_MIB=16 and SIZE_MIB=1024 to see that.
#
# Environment:
#   SIZE_MIB=256   target size in MiB
#   RUNS=3         repetitions of each measurement
#   WARD=...       the ward binary (default: build/cli/ward of this checkout)
#   BENCH_DIR=...  scratch directory (default: a fresh one under /tmp); removed
#                  at the end unless BENCH_KEEP=1
# Server: Python's http.server (threaded). Measured here: it sends a 256 MiB
# file to curl in 0.14 s (to /dev/null), faster than busybox httpd (0.5 s to a
# file against Python's 0.25-0.4 s); nginx would need a system service set up.
# Both limits and ward share the same server, so the ratios are fair either way.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
WARD=${WARD:-$here/build/cli/ward}
PY=/usr/bin/python3

for tool in curl sha256sum openssl /usr/bin/time "$PY" "$WARD"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "tuf_download: $tool is missing (make deps; make build)" >&2
		exit 1
	fi
done

work=${BENCH_DIR:-$(mktemp -d /tmp/ward-bench.XXXXXX)}
mkdir -p "$work"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

now_ns() { date +%s%N; }
# seconds (3 decimals) from two date +%s%N readings
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
mibps() { awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }

# ---- the repository ----------------------------------------------------------
echo "tuf_download: ${SIZE_MIB} MiB target, best of ${RUNS}, scratch ${work}"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$work/big.bin"
want=$(openssl dgst -sha256 -r "$work/big.bin" | cut -d' ' -f1)
"$WARD" repo init "$work/r" --unencrypted-keys >"$work/repo-init.log" 2>&1 ||
	{ cat "$work/repo-init.log" >&2; exit 1; }
"$WARD" repo add "$work/r" "$work/big.bin" --name big.bin >"$work/repo-add.log" 2>&1 ||
	{ cat "$work/repo-add.log" >&2; exit 1; }
root="$work/r/repo/metadata/1.root.json"
# With consistent snapshots (ward's default) the target is published as
# targets/<sha256>.big.bin; curl fetches the same file ward will.
if [ -f "$work/r/repo/targets/$want.big.bin" ]; then
	target_path="targets/$want.big.bin"
else
	target_path="targets/big.bin"
fi
[ -f "$root" ] || { echo "tuf_download: $root was not written by ward repo init" >&2; exit 1; }

# ---- the server ---------------------------------------------------------------
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m http.server --bind 127.0.0.1 "$port" --directory "$work/r/repo" \
	>"$work/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 50); do
	curl -s -o /dev/null "$url/metadata/1.root.json" && break
	sleep 0.1
done
curl -s -f -o /dev/null "$url/metadata/1.root.json" ||
	{ echo "tuf_download: the server on port $port did not come up" >&2; exit 1; }

# ---- measurements -------------------------------------------------------------
best_limit="" best_limit_ossl="" best_ward="" peak_rss=""
for run in $(seq "$RUNS"); do
	rm -f "$work/x" "$work/x.sum"
	t0=$(now_ns)
	curl -sf -o "$work/x" "$url/$target_path" && sha256sum "$work/x" >"$work/x.sum"
	t1=$(now_ns)
	[ "$(cut -d' ' -f1 "$work/x.sum")" = "$want" ] || { echo "tuf_download: curl fetched wrong bytes" >&2; exit 1; }
	tl_run=$(elapsed "$t0" "$t1")
	best_limit=$(min "$best_limit" "$tl_run")

	rm -f "$work/x" "$work/x.sum"
	t0=$(now_ns)
	curl -sf -o "$work/x" "$url/$target_path" && openssl dgst -sha256 -r "$work/x" >"$work/x.sum"
	t1=$(now_ns)
	[ "$(cut -d' ' -f1 "$work/x.sum")" = "$want" ] || { echo "tuf_download: curl fetched wrong bytes" >&2; exit 1; }
	to_run=$(elapsed "$t0" "$t1")
	best_limit_ossl=$(min "$best_limit_ossl" "$to_run")
	rm -f "$work/x" "$work/x.sum"

	rm -rf "$work/m" "$work/t"
	mkdir -p "$work/m" "$work/t"
	"$WARD" tuf --metadata-dir "$work/m" init "$root" >"$work/init.log" 2>&1 ||
		{ cat "$work/init.log" >&2; exit 1; }
	t0=$(now_ns)
	/usr/bin/time -v -o "$work/time.txt" "$WARD" tuf --metadata-url "$url/metadata" \
		--metadata-dir "$work/m" --target-name big.bin --target-base-url "$url/targets" \
		--target-dir "$work/t" download >"$work/download.log" 2>&1 ||
		{ cat "$work/download.log" "$work/time.txt" >&2; exit 1; }
	t1=$(now_ns)
	got=$(openssl dgst -sha256 -r "$work/t/big.bin" | cut -d' ' -f1)
	[ "$got" = "$want" ] || { echo "tuf_download: ward wrote wrong bytes" >&2; exit 1; }
	rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$work/time.txt")
	tw_run=$(elapsed "$t0" "$t1")
	best_ward=$(min "$best_ward" "$tw_run")
	peak_rss=$(max "$peak_rss" "$rss")
	echo "  run $run: limit ${tl_run} s, limit' ${to_run} s, ward ${tw_run} s, ward RSS ${rss} KiB"
done

# ---- report -----------------------------------------------------------------------
tl=$(mibps "$SIZE_MIB" "$best_limit")
to=$(mibps "$SIZE_MIB" "$best_limit_ossl")
tw=$(mibps "$SIZE_MIB" "$best_ward")
printf '%-40s %8s s %8s MiB/s\n' "limit: curl + sha256sum" "$best_limit" "$tl"
printf '%-40s %8s s %8s MiB/s\n' "limit': curl + openssl dgst -sha256" "$best_limit_ossl" "$to"
printf '%-40s %8s s %8s MiB/s\n' "ward tuf download (refresh + verify)" "$best_ward" "$tw"
awk -v w="$tw" -v l="$tl" -v o="$to" \
	'BEGIN { printf "ward / limit: %.2f    ward / limit'"'"': %.2f\n", w / l, w / o }'
awk -v k="$peak_rss" 'BEGIN { printf "ward peak RSS: %.1f MiB (worst of the runs)\n", k / 1024 }'
