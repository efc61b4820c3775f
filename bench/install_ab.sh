#!/usr/bin/env bash
# bench/install_ab.sh — wardd against RAUC and SWUpdate: the same image
# installed into the same file-backed A/B slot pair by three updaters in one
# run, and by a plain copy as the machine's limit. A benchmark, not a test: it
# prints numbers and goal lines (PASS/MISS) and fails only when something does
# not work (an updater errors, or a slot does not hold the image afterwards).
#
# One run: write a random image of SIZE_MIB MiB, package it for each updater,
# then RUNS times (interleaved, best time kept):
#   limit    dd copy of the image into slot B
#   limit'   the same copy, then openssl dgst -sha256 of the image: read, hash
#            and write one after the other, as a single-threaded streaming
#            installer does with each chunk (tee | openssl was tried: the pipe
#            made it 2-3 times slower than the two steps in turn)
#   RAUC     `rauc install` of a signed plain bundle, served by a `rauc service`
#            on a private D-Bus started here (no systemd); peak RSS is the
#            service's, which does the work
#   SWUpdate `swupdate -i` of a signed .swu, raw handler into slot B
#   wardd    `wardd -c DEVICE.conf install FILE.ward` (skipped while there is
#            no wardd binary)
# Each install starts from fresh slots (A and B zero-filled, fallocated) and
# fresh updater state, after `sync` and a page-cache drop (when the kernel
# allows it). Each is timed twice: until the command returns, and until slot B
# is on disk (the command + `sync SLOT_B`, an fsync of that file); the second
# is the fair one, since an updater that does not fsync returns early. After
# each install slot B must equal the image and slot A must still be zeros.
# Memory: peak RSS from /usr/bin/time -v, and peak RssAnon sampled from /proc
# (see sample_anon). Then wardd's idle RSS (the daemon started as after a
# reboot into slot B, 2 s later) and the size of a stripped copy of wardd.
#
# Environment:
#   SIZE_MIB=256   image size in MiB (the slots are exactly that size)
#   RUNS=3         repetitions of each measurement
#   WARD=...       the ward CLI (default: build/cli/ward of this checkout)
#   WARDD=...      the agent (default: build/agent/wardd of this checkout)
#   BENCH_DIR=...  scratch directory (default: a fresh one under /tmp); removed
#                  at the end unless BENCH_KEEP=1
# Needs root (loop mounts for RAUC, page-cache drop, installing packages):
# the Debian packages in deps/bench.txt are installed if missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
WARD=${WARD:-$here/build/cli/ward}
WARDD=${WARDD:-$here/build/agent/wardd}
GOAL_IDLE_KIB=2048 # idle wardd RSS goal: 2 MiB

die() { echo "install_ab: $*" >&2; exit 1; }

case $SIZE_MIB in '' | *[!0-9]* | 0) die "SIZE_MIB must be a whole number of MiB" ;; esac
case $RUNS in '' | *[!0-9]* | 0) die "RUNS must be a positive whole number" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root (RAUC mounts its bundle on a loop device; packages may need installing)"

# ---- packages ----------------------------------------------------------------
missing=""
for p in $(grep -v '^#' "$here/deps/bench.txt" | tr -s ' \n' ' '); do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "install_ab: installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
for tool in rauc swupdate dbus-daemon dbus-send mksquashfs cpio openssl fallocate cmp strip /usr/bin/time; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing after installing deps/bench.txt"
done

have_ward=1
ward_skip=""
if [ ! -x "$WARDD" ]; then
	have_ward=0
	ward_skip="no wardd at $WARDD (make build, or set WARDD=...)"
elif [ ! -x "$WARD" ]; then
	die "wardd is at $WARDD but the ward CLI is not at $WARD (set WARD=...)"
fi

# ---- scratch dir, and everything started here stops with it -----------------
work=${BENCH_DIR:-$(mktemp -d /tmp/ward-bench-ab.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
bus_pid="" svc_time_pid="" svc_sampler_pid="" timed_pid="" daemon_pid=""

# The rauc service runs under /usr/bin/time; signal time's child, not time.
stop_service() {
	if [ -n "$svc_time_pid" ]; then
		local child
		child=$(cat "/proc/$svc_time_pid/task/$svc_time_pid/children" 2>/dev/null || true)
		for c in $child; do kill -TERM "$c" 2>/dev/null || true; done
		wait "$svc_time_pid" 2>/dev/null || true
		svc_time_pid=""
	fi
	if [ -n "$svc_sampler_pid" ]; then
		wait "$svc_sampler_pid" 2>/dev/null || true
		svc_sampler_pid=""
	fi
}
# shellcheck disable=SC2317,SC2013 # cleanup runs from the EXIT trap; pids are words
cleanup() {
	if [ -n "$timed_pid" ]; then # an install still running under /usr/bin/time
		for c in $(cat "/proc/$timed_pid/task/$timed_pid/children" 2>/dev/null); do
			kill -TERM "$c" 2>/dev/null || true
		done
		wait "$timed_pid" 2>/dev/null || true
	fi
	stop_service
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [ -n "$bus_pid" ]; then
		kill "$bus_pid" 2>/dev/null || true
	fi
	# A run killed mid-install can leave RAUC's bundle mounted under $work.
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
	losetup -j "$work/rauc/bench.raucb" 2>/dev/null | cut -d: -f1 |
		while read -r dev; do losetup -d "$dev" 2>/dev/null || true; done
	if [ "${BENCH_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "install_ab: kept $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }
mibps() { awk -v s="$SIZE_MIB" -v t="$1" 'BEGIN { printf "%.0f", s / t }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
max_rss() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): *//p' "$1"; }

size_bytes=$((SIZE_MIB * 1024 * 1024))
img="$work/image.bin"
slot_a="$work/slot-a"
slot_b="$work/slot-b"

# Fresh slot pair: both zero-filled and allocated, like partitions.
fresh_slots() {
	rm -f "$slot_a" "$slot_b"
	fallocate -l "$size_bytes" "$slot_a" 2>/dev/null || truncate -s "$size_bytes" "$slot_a"
	fallocate -l "$size_bytes" "$slot_b" 2>/dev/null || truncate -s "$size_bytes" "$slot_b"
}

# Drop clean page cache so every install reads its input from disk.
can_drop=0
drop_note=""
sync
if (echo 3 >/proc/sys/vm/drop_caches) 2>"$work/drop.err"; then
	can_drop=1
else
	drop_note="page cache NOT dropped between runs: $(tr -d '\n' <"$work/drop.err")"
fi
cold() {
	sync
	if [ "$can_drop" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# The install happened, into the right slot.
check_slots() { # $1 = who
	cmp -s "$slot_b" "$img" || die "$1: slot B does not hold the image after the install"
	cmp -s -n "$size_bytes" "$slot_a" /dev/zero || die "$1: slot A was changed by the install"
}

# Peak RssAnon (KiB) of process $1 and its descendants (the largest one, as
# /usr/bin/time reports the largest), sampled every 50 ms until $1 is gone;
# written to $2. A lower bound: a spike shorter than 50 ms can be missed.
# Needed because "Maximum resident set size" also counts file pages a process
# maps: RAUC maps its whole bundle to check the signature, so its peak RSS
# grows with the image while its anonymous memory does not.
sample_anon() { # pid outfile (run in the background: its set +e stays local)
	set +e
	local root=$1 out=$2 peak=0 p k v rest f
	local -a todo kids
	while [ -d "/proc/$root" ]; do
		todo=("$root")
		while [ "${#todo[@]}" -gt 0 ]; do
			p=${todo[0]}
			todo=("${todo[@]:1}")
			while read -r k v rest; do
				if [ "$k" = RssAnon: ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
			done 2>/dev/null <"/proc/$p/status"
			for f in /proc/"$p"/task/*/children; do
				kids=()
				read -r -a kids 2>/dev/null <"$f"
				todo+=("${kids[@]}")
			done
		done
		sleep 0.05
	done
	echo "$peak" >"$out"
}

# Time "$@" (stdout/stderr to $log) under /usr/bin/time -v into $tfile, then fsync
# slot B; sets t_ret (s), t_sync (s), rss (KiB, peak RSS) and anon (KiB, sampled
# peak RssAnon).
timed() { # log tfile cmd...
	local log=$1 tfile=$2 t0 t1 t2 tp sp rc
	shift 2
	t0=$(now_ns)
	/usr/bin/time -v -o "$tfile" "$@" >"$log" 2>&1 &
	tp=$!
	timed_pid=$tp
	sample_anon "$tp" "$tfile.anon" &
	sp=$!
	wait "$tp" && rc=0 || rc=$?
	timed_pid=""
	t1=$(now_ns)
	if [ "$rc" != 0 ]; then
		tail -n 30 "$log" >&2
		die "failed (exit $rc): $*"
	fi
	sync "$slot_b"
	t2=$(now_ns)
	wait "$sp" || true
	t_ret=$(elapsed "$t0" "$t1")
	t_sync=$(elapsed "$t0" "$t2")
	rss=$(max_rss "$tfile")
	anon=$(cat "$tfile.anon")
}

echo "install_ab: ${SIZE_MIB} MiB image, best of ${RUNS}, scratch ${work}, $(nproc) CPUs"
[ -n "$drop_note" ] && echo "install_ab: $drop_note"
head -c "$size_bytes" /dev/urandom >"$img"
img_sha=$(openssl dgst -sha256 -r "$img" | cut -d' ' -f1)

# ---- a throwaway CA and signer (never leaves $work) ------------------------
# One CA for both RAUC and SWUpdate; the signer carries emailProtection, which
# is what both check by default (RAUC: smimesign, SWUpdate: --cert-purpose).
pki="$work/pki"
mkdir -p "$pki"
(
	umask 077
	openssl req -x509 -newkey rsa:3072 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" \
		-days 2 -subj /CN=ward-bench-ca -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign
	openssl req -newkey rsa:3072 -nodes -keyout "$pki/signer.key" -out "$pki/signer.csr" \
		-subj /CN=ward-bench-signer
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n' \
		>"$pki/signer.ext"
	openssl x509 -req -in "$pki/signer.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 2 -extfile "$pki/signer.ext" -out "$pki/signer.pem"
) >"$pki/pki.log" 2>&1 || { cat "$pki/pki.log" >&2; die "could not make the throwaway CA"; }

# ---- RAUC: bundle, system.conf, a private bus -------------------------------
# RAUC 1.8 as Debian builds it always installs through `rauc service` over
# D-Bus. Its own test suite runs the service on a session bus: with
# DBUS_STARTER_BUS_TYPE=session both `rauc service` and the `rauc install`
# client use DBUS_SESSION_BUS_ADDRESS instead of the system bus. The bus here
# is a private dbus-daemon on a socket in $work. Bundle format "plain"
# (squashfs on a loop device): "verity" needs device-mapper, which the
# development VM's kernel lacks; plain works without it.
r="$work/rauc"
mkdir -p "$r/content" "$r/mnt" "$r/data"
ln "$img" "$r/content/rootfs.img" 2>/dev/null || cp "$img" "$r/content/rootfs.img"
cat >"$r/content/manifest.raucm" <<EOF
[update]
compatible=ward-bench
version=1.0.0

[bundle]
format=plain

[image.rootfs]
filename=rootfs.img
EOF
rauc bundle --cert "$pki/signer.pem" --key "$pki/signer.key" --keyring "$pki/ca.pem" \
	"$r/content" "$r/bench.raucb" >"$r/bundle.log" 2>&1 || { cat "$r/bundle.log" >&2; die "rauc bundle failed"; }
rm -rf "$r/content"
cat >"$r/system.conf" <<EOF
[system]
compatible=ward-bench
bootloader=noop
data-directory=$r/data

[keyring]
path=$pki/ca.pem

[slot.rootfs.0]
device=$slot_a
type=raw
bootname=A

[slot.rootfs.1]
device=$slot_b
type=raw
bootname=B
EOF
cat >"$r/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$r/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$r/bus.conf" --nofork --nopidfile >"$r/bus.log" 2>&1 &
bus_pid=$!
export DBUS_SESSION_BUS_ADDRESS="unix:path=$r/bus.sock" DBUS_STARTER_BUS_TYPE=session
bus_has() { # name
	dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}
for _ in $(seq 100); do [ -S "$r/bus.sock" ] && break; sleep 0.05; done
[ -S "$r/bus.sock" ] || { cat "$r/bus.log" >&2; die "the private dbus-daemon did not start"; }

start_service() { # tfile log
	rm -rf "$r/data" && mkdir -p "$r/data"
	/usr/bin/time -v -o "$1" rauc service --conf="$r/system.conf" --mount="$r/mnt" \
		--override-boot-slot=A >"$2" 2>&1 &
	svc_time_pid=$!
	sample_anon "$svc_time_pid" "$1.anon" &
	svc_sampler_pid=$!
	for _ in $(seq 200); do bus_has de.pengutronix.rauc && return 0; sleep 0.05; done
	cat "$2" >&2
	die "rauc service did not appear on the private bus"
}

# ---- SWUpdate: a signed .swu --------------------------------------------------
# Debian's swupdate is built for signed images (CMS): sw-description.sig is a
# detached DER CMS signature, verified against the CA given with -k. It also
# insists on hardware compatibility: -H bench-hw:1.0 on the command line.
s="$work/swu"
mkdir -p "$s"
cat >"$s/sw-description" <<EOF
software =
{
	version = "1.0.0";
	hardware-compatibility: [ "1.0" ];
	bench = {
		main = {
			images: (
				{
					filename = "rootfs.img";
					type = "raw";
					device = "$slot_b";
					sha256 = "$img_sha";
				}
			);
		};
	};
}
EOF
openssl cms -sign -in "$s/sw-description" -out "$s/sw-description.sig" -signer "$pki/signer.pem" \
	-inkey "$pki/signer.key" -outform DER -nosmimecap -binary
ln "$img" "$s/rootfs.img" 2>/dev/null || cp "$img" "$s/rootfs.img"
(cd "$s" && printf '%s\n' sw-description sw-description.sig rootfs.img | cpio -o -H crc --quiet >bench.swu)
rm -f "$s/rootfs.img"

# ---- ward: repository, bundle, device config --------------------------------
w="$work/ward"
if [ "$have_ward" = 1 ]; then
	mkdir -p "$w"
	"$WARD" repo init "$w/repo" --unencrypted-keys >"$w/init.log" 2>&1 ||
		{ cat "$w/init.log" >&2; die "ward repo init failed"; }
	"$WARD" repo add "$w/repo" "$img" --name rootfs.img --hardware-id bench-hw --version 1.0.0 \
		>"$w/add.log" 2>&1 || { cat "$w/add.log" >&2; die "ward repo add failed"; }
	"$WARD" bundle create "$w/repo" --target rootfs.img -o "$w/bench.ward" >"$w/bundle.log" 2>&1 ||
		{ cat "$w/bundle.log" >&2; die "ward bundle create failed"; }
	cat >"$w/device.conf" <<EOF
[device]
hardware_id = bench-hw
state_dir = $w/state
trusted_root = $w/repo/repo/metadata/1.root.json
booted_from = $w/cmdline

[slots]
a = $slot_a
b = $slot_b
size = $size_bytes

[bootloader]
backend = file
env_file = $w/boot.env

[update]
policy = auto
EOF
fi
fresh_ward_state() {
	rm -rf "$w/state" "$w/boot.env"
	mkdir -p "$w/state"
	echo "ward.slot=A" >"$w/cmdline"
}

# ---- measurements -------------------------------------------------------------
declare -A best_ret best_sync peak peak_anon
for k in limit limit2 rauc swu ward; do
	best_ret[$k]="" best_sync[$k]="" peak[$k]="" peak_anon[$k]=""
done
record() { # key  (from t_ret, t_sync, rss, anon; rss/anon empty for the limits)
	best_ret[$1]=$(min "${best_ret[$1]}" "$t_ret")
	best_sync[$1]=$(min "${best_sync[$1]}" "$t_sync")
	if [ -n "$rss" ]; then peak[$1]=$(max "${peak[$1]}" "$rss"); fi
	if [ -n "$anon" ]; then peak_anon[$1]=$(max "${peak_anon[$1]}" "$anon"); fi
}

for run in $(seq "$RUNS"); do
	line="  run $run:"

	# limit: the copy alone.
	fresh_slots; cold
	t0=$(now_ns)
	dd if="$img" of="$slot_b" bs=4M conv=notrunc status=none
	t1=$(now_ns)
	sync "$slot_b"
	t2=$(now_ns)
	t_ret=$(elapsed "$t0" "$t1") t_sync=$(elapsed "$t0" "$t2") rss="" anon=""
	check_slots "dd"
	record limit
	line="$line limit ${t_ret}/${t_sync} s;"

	# limit': copy, then SHA-256 of what was read (now cached), one after the
	# other as a single-threaded streaming installer does per chunk.
	fresh_slots; cold
	t0=$(now_ns)
	dd if="$img" of="$slot_b" bs=4M conv=notrunc status=none
	openssl dgst -sha256 -r "$img" >"$work/limit.sum"
	t1=$(now_ns)
	sync "$slot_b"
	t2=$(now_ns)
	t_ret=$(elapsed "$t0" "$t1") t_sync=$(elapsed "$t0" "$t2") rss="" anon=""
	[ "$(cut -d' ' -f1 "$work/limit.sum")" = "$img_sha" ] || die "openssl dgst: wrong hash"
	check_slots "dd + openssl"
	record limit2
	line="$line limit' ${t_ret}/${t_sync} s;"

	# RAUC: the service is started (not timed) before the install; its peak RSS
	# is read when it is stopped after the install.
	fresh_slots
	start_service "$r/service.time" "$r/service.log"
	cold
	timed "$r/install.log" "$r/install.time" rauc install "$r/bench.raucb"
	client_rss=$rss
	stop_service
	rss=$(max_rss "$r/service.time")
	anon=$(cat "$r/service.time.anon")
	grep -q 'succeeded' "$r/install.log" || { cat "$r/install.log" >&2; die "rauc install did not succeed"; }
	check_slots "RAUC"
	record rauc
	line="$line RAUC ${t_ret}/${t_sync} s ${rss}/${anon} KiB (client ${client_rss} KiB);"

	fresh_slots; cold
	timed "$s/install.log" "$s/install.time" \
		swupdate -v -k "$pki/ca.pem" -H bench-hw:1.0 -e bench,main -i "$s/bench.swu"
	check_slots "SWUpdate"
	record swu
	line="$line SWUpdate ${t_ret}/${t_sync} s ${rss}/${anon} KiB;"

	if [ "$have_ward" = 1 ]; then
		fresh_slots; fresh_ward_state; cold
		timed "$w/install.log" "$w/install.time" "$WARDD" -c "$w/device.conf" install "$w/bench.ward"
		check_slots "wardd"
		record ward
		line="$line wardd ${t_ret}/${t_sync} s ${rss}/${anon} KiB"
	fi
	echo "$line"
done
echo "  (time: returned/+fsync of slot B; memory: peak RSS/sampled peak anonymous RSS)"

# ---- wardd idle, and sizes ---------------------------------------------------
idle_kib="" idle_anon="" idle_file="" idle_pss="" idle_note="" stripped=""
if [ "$have_ward" = 1 ]; then
	# The device after the last install: it rebooted into the new slot B, and
	# the daemon starts (confirming the trial, then waiting).
	echo "ward.slot=B" >"$w/cmdline"
	"$WARDD" -c "$w/device.conf" >"$w/daemon.log" 2>&1 &
	daemon_pid=$!
	sleep 2
	if kill -0 "$daemon_pid" 2>/dev/null; then
		idle_kib=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status")
		[ -n "$idle_kib" ] || idle_note="no VmRSS in /proc/$daemon_pid/status"
		idle_anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status")
		idle_file=$(sed -n 's/^RssFile:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status")
		idle_pss=$(sed -n 's/^Pss:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/smaps_rollup" 2>/dev/null || true)
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	else
		wait "$daemon_pid" 2>/dev/null && st=0 || st=$?
		idle_note="wardd exited (status $st) within 2 s: $(tail -n 3 "$w/daemon.log" | tr '\n' ' ')"
	fi
	daemon_pid=""
	strip -o "$work/wardd.stripped" "$WARDD"
	stripped=$(stat -c %s "$work/wardd.stripped")
fi

# ---- report -----------------------------------------------------------------------
rauc_v=$(rauc --version 2>/dev/null | awk '{ print $2 }')
swu_v=$(dpkg-query -W -f='${Version}' swupdate 2>/dev/null)
echo
printf '%-34s %9s %9s %6s %11s %10s\n' "" "returned" "+fsync" "MiB/s" "peak RSS" "anon RSS"
row() { # label key
	local rs="-" an="-"
	if [ -n "${peak[$2]}" ]; then rs="$(mib "${peak[$2]}") MiB"; fi
	if [ -n "${peak_anon[$2]}" ]; then an="$(mib "${peak_anon[$2]}") MiB"; fi
	printf '%-34s %7s s %7s s %6s %11s %10s\n' "$1" "${best_ret[$2]}" "${best_sync[$2]}" \
		"$(mibps "${best_sync[$2]}")" "$rs" "$an"
}
row "limit: dd copy" limit
row "limit': dd copy + openssl sha256" limit2
row "RAUC $rauc_v (service)" rauc
row "SWUpdate ${swu_v%%+*}" swu
if [ "$have_ward" = 1 ]; then
	row "wardd install" ward
else
	echo "wardd: SKIPPED: $ward_skip"
fi
cat <<EOF
(best of $RUNS; MiB/s from the +fsync time. RAUC: from \`rauc install\` to its
return, with the service already running; memory is the service's. SWUpdate -i
polls for completion once a second, so its time is rounded up to that poll.
anon RSS: RssAnon sampled every 50 ms, a lower bound. Peak RSS also counts
mapped file pages; most of RAUC's is its bundle, which it maps whole to check
the signature.)
EOF
echo
rt=${best_sync[rauc]} st=${best_sync[swu]} lt=${best_sync[limit2]}
echo "RAUC / limit':     time $(ratio "$rt" "$lt")"
echo "SWUpdate / limit': time $(ratio "$st" "$lt")"
echo "SWUpdate / RAUC:   time $(ratio "$st" "$rt"), peak RSS $(ratio "${peak[swu]}" "${peak[rauc]}")," \
	"anon RSS $(ratio "${peak_anon[swu]}" "${peak_anon[rauc]}")"
if [ "$have_ward" = 1 ]; then
	wt=${best_sync[ward]}
	echo "wardd / limit':    time $(ratio "$wt" "$lt")"
	echo "wardd / RAUC:      time $(ratio "$wt" "$rt"), peak RSS $(ratio "${peak[ward]}" "${peak[rauc]}")," \
		"anon RSS $(ratio "${peak_anon[ward]}" "${peak_anon[rauc]}")"
	echo "wardd / SWUpdate:  time $(ratio "$wt" "$st"), peak RSS $(ratio "${peak[ward]}" "${peak[swu]}")," \
		"anon RSS $(ratio "${peak_anon[ward]}" "${peak_anon[swu]}")"
	if [ -n "$idle_kib" ]; then
		echo "wardd idle RSS:    $(mib "$idle_kib") MiB (VmRSS of the daemon 2 s after start: anonymous" \
			"$(mib "$idle_anon") MiB, file-backed $(mib "$idle_file") MiB, mostly shared libraries;" \
			"PSS $(mib "${idle_pss:-0}") MiB)"
		echo "                   daemon said: $(tr '\n' ' ' <"$w/daemon.log")"
	else
		echo "wardd idle RSS:    n/a: $idle_note"
	fi
	echo "wardd stripped:    $((stripped / 1024)) KiB (for scale, as Debian ships them:" \
		"rauc $(($(stat -c %s /usr/bin/rauc) / 1024)) KiB, swupdate $(($(stat -c %s /usr/bin/swupdate) / 1024)) KiB;" \
		"shared libraries not counted)"
fi
echo
goal() { # 1|0 text
	if [ "$1" = 1 ]; then echo "PASS  $2"; else echo "MISS  $2"; fi
}
if [ "$have_ward" = 1 ]; then
	goal "$(awk -v w="$wt" -v r="$rt" 'BEGIN { print (w <= r) ? 1 : 0 }')" \
		"wardd at least as fast as RAUC (${wt} s vs ${rt} s, until slot B is on disk)"
	goal "$(awk -v w="${peak[ward]}" -v r="${peak[rauc]}" 'BEGIN { print (w * 4 <= r) ? 1 : 0 }')" \
		"wardd peak RSS at most 1/4 of RAUC's ($(mib "${peak[ward]}") MiB vs $(mib "${peak[rauc]}") MiB)"
	if [ -n "$idle_kib" ]; then
		goal "$(awk -v i="$idle_kib" -v g="$GOAL_IDLE_KIB" 'BEGIN { print (i <= g) ? 1 : 0 }')" \
			"idle wardd RSS at most 2 MiB ($(mib "$idle_kib") MiB)"
	else
		echo "MISS  idle wardd RSS at most 2 MiB (not measured: $idle_note)"
	fi
else
	echo "SKIP  wardd at least as fast as RAUC ($ward_skip)"
	echo "SKIP  wardd peak RSS at most 1/4 of RAUC's"
	echo "SKIP  idle wardd RSS at most 2 MiB"
fi
if [ -n "$drop_note" ]; then echo "note: $drop_note"; fi
exit 0
