# common.sh - helpers shared by the fake FreeBSD tools and the boot/shutdown scripts.
# Installed at /.sim/lib/common.sh inside every simulated host.  POSIX sh only:
# the interpreter is busybox ash, the tools must behave like FreeBSD's.
#
# Simulator state (never read by the product, only by tests):
#   /.sim/variant.env      SIM_* facts about the machine (sourced below)
#   /.sim/sysctl/defaults  name<TAB>rw|ro<TAB>I|S<TAB>value  (static, built by Python)
#   /.sim/sysctl/live      same format, the running kernel's values (reset at boot)
#   /.sim/run/             per-boot state, wiped at boot (xen.booted, xen.version, ...)
#   /.sim/xen/domains/NAME one file per field (see /usr/local/sbin/xl)
#   /.sim/power/request    written by reboot/shutdown, consumed by the supervisor
#   /.sim/state/           persistent counters (boot_count)

. /.sim/variant.env

TAB='	'
SIM_LIVE=/.sim/sysctl/live

# sim_line FILE -> prints the file's first line, fails when it is missing. The read is a
# shell builtin, not cat: the tools every deploy's read runs (xl list, xl info) would
# otherwise exec a process per field, and the simulated hosts' CPU, not the deploy,
# would be what the benchmarks measure.
sim_line() { _l=; { IFS= read -r _l < "$1" || [ -n "$_l" ]; } 2>/dev/null && printf '%s\n' "$_l"; }

# sim_sysctl_get NAME -> prints the live value, returns 1 if the oid is unknown.
sim_sysctl_get() {
	/bin/busybox awk -F'\t' -v n="$1" '$1 == n { print $4; f = 1; exit } END { exit !f }' "$SIM_LIVE"
}

# sim_sysctl_force NAME VALUE -> set a value regardless of access (kernel-side update).
sim_sysctl_force() {
	_t=$(/bin/busybox mktemp /.sim/sysctl/live.XXXXXX)
	/bin/busybox awk -F'\t' -v OFS='\t' -v n="$1" -v v="$2" \
		'$1 == n { $4 = v } { print }' "$SIM_LIVE" > "$_t" && /bin/busybox mv -f "$_t" "$SIM_LIVE"
}

# sim_now_ms -> epoch milliseconds (busybox date has no %N; a file's mtime has them)
sim_now_ms() {
	/bin/busybox touch /.sim/run/.clock
	/bin/busybox stat -c '%Y %y' /.sim/run/.clock | /bin/busybox awk '{ split($3, a, "."); printf "%.0f\n", $1 * 1000 + substr(a[2] "000", 1, 3) }'
}

# sim_log TAG MESSAGE... -> append a syslog-style line to /var/log/messages.
sim_log() {
	_tag=$1; shift
	printf '%s %s %s: %s\n' "$(/bin/busybox date '+%b %e %H:%M:%S')" \
		"$(cat /.sim/run/hostname 2>/dev/null || echo "$SIM_HOSTNAME")" "$_tag" "$*" >> /var/log/messages
}

# sim_load_rc_conf -> source the rc.conf chain the way /etc/rc does (in the caller's shell).
sim_load_rc_conf() {
	. /etc/defaults/rc.conf
	source_rc_confs
}

# sim_xen_up -> true when the running kernel is a Xen Dom0.
sim_xen_up() {
	[ -f /.sim/run/xen.booted ]
}
