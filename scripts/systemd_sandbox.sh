#!/usr/bin/env bash
# A real systemd, as PID 1 of an isolated container on this machine, to try the service
# unit and scripts/install.sh for real (on a host whose PID 1 is not systemd, or whose
# systemd must not be touched).
#
#   sudo scripts/systemd_sandbox.sh boot      boot it (waits until systemd is up)
#   sudo scripts/systemd_sandbox.sh exec CMD  run CMD inside, e.g. `exec systemctl status`
#   sudo scripts/systemd_sandbox.sh pid       the host PID of the sandbox's systemd
#   sudo scripts/systemd_sandbox.sh stop      power it off and remove every trace
#   scripts/systemd_sandbox.sh check          can it boot here? (exit 0, or 1 with the reason)
#   SANDBOX_DEBS="rsync alsa-utils" ... boot   also fetch these Debian packages (and what
#                                             they need) into its apt cache: it has no network
#
# The sandbox's root is an overlay: the host's / is the read-only lower layer (so this
# repository, its virtualenv and the model cache are there) and every write lands in
# $SECONDSELF_SANDBOX/upper (default /tmp/secondself-sandbox), removed by `stop`. It has
# its own PID, mount, network (loopback only), UTS, IPC and cgroup namespaces, a cgroup2
# subtree of its own, a read-only /sys and /proc/sys, a private /dev and /tmp, and no
# CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_RAWIO or audit control. Units that would touch the
# host or make no sense in a container (getty, udev, timesyncd, module loading, sysctl,
# AppArmor, timers ...) are masked. systemd's console goes to $SECONDSELF_SANDBOX/console.log.
set -euo pipefail

SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
STATE="${SECONDSELF_SANDBOX:-/tmp/secondself-sandbox}"
HOSTNAME_IN=secondself-test
SYSTEMD=/usr/lib/systemd/systemd
[ -x "$SYSTEMD" ] || SYSTEMD=/lib/systemd/systemd
BOOT_TIMEOUT="${SANDBOX_BOOT_TIMEOUT:-90}"
# The sandbox's processes leave these capabilities behind (setpriv --bounding-set).
DROP_CAPS=-sys_module,-sys_time,-sys_rawio,-audit_control,-audit_write,-audit_read,-mac_admin,-mac_override,-syslog,-wake_alarm,-sys_pacct
MASK=(
  getty@.service getty.target console-getty.service serial-getty@.service
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
  systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service
  systemd-modules-load.service kmod-static-nodes.service systemd-sysctl.service
  systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
  sys-fs-fuse-connections.mount systemd-pstore.service systemd-timesyncd.service
  systemd-journald-audit.socket apparmor.service systemd-remount-fs.service
  systemd-firstboot.service systemd-random-seed.service systemd-networkd.service
  systemd-resolved.service networking.service ifupdown-pre.service NetworkManager.service
  ssh.service cron.service avahi-daemon.service avahi-daemon.socket postgresql.service
  e2scrub_reap.service remote-fs.target apt-daily.timer apt-daily-upgrade.timer
  dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer logrotate.timer
  systemd-tmpfiles-clean.timer pulseaudio.service pulseaudio.socket
)

die() { echo "systemd_sandbox: $*" >&2; exit 1; }

# Why it cannot boot here, or nothing.
why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root (it mounts an overlay and makes namespaces)"; return; }
  [ -x "$SYSTEMD" ] || { echo "no systemd binary ($SYSTEMD)"; return; }
  grep -qw overlay /proc/filesystems || { echo "no overlayfs in this kernel"; return; }
  for tool in unshare nsenter setpriv pivot_root; do
    command -v "$tool" >/dev/null || { echo "no $tool (util-linux)"; return; }
  done
  [ -n "$(cgroup2_root)" ] || { echo "no cgroup2 hierarchy mounted on the host"; return; }
  unshare --pid --fork --mount --net --uts --ipc --cgroup true 2>/dev/null \
    || { echo "cannot make namespaces here (nested container without privileges?)"; return; }
}

# Where the host's cgroup2 hierarchy is mounted (unified or hybrid layout).
cgroup2_root() {
  local dir
  for dir in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    if [ "$(stat -f -c %T "$dir" 2>/dev/null)" = cgroup2fs ]; then
      echo "$dir"
      return
    fi
  done
}

running_pid() {
  local pid
  pid=$(cat "$STATE/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -e "/proc/$pid" ] \
    && [ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] || return 1
  echo "$pid"
}

in_sandbox() {
  local pid
  pid=$(running_pid) || die "not running (scripts/systemd_sandbox.sh boot)"
  nsenter --target "$pid" --all --root --wd \
    env -i container=secondself-test TERM=dumb LANG=C.UTF-8 HOME=/root \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# Runs inside the new namespaces, as their PID 1: builds the root and becomes systemd.
init_inside() {
  local root=$STATE/root
  mount -t overlay overlay -o "lowerdir=/,upperdir=$STATE/upper,workdir=$STATE/work" "$root"
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  for path in sys sysrq-trigger; do  # the host's kernel settings stay the host's
    [ -e "$root/proc/$path" ] || continue
    mount --bind "$root/proc/$path" "$root/proc/$path"
    mount -o remount,bind,ro "$root/proc/$path"
  done
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
  # A /dev of its own: the pseudo devices, a pty instance, shm; no disks, no host devices.
  mount -t tmpfs -o mode=0755,nosuid,size=4m tmpfs "$root/dev"
  local node
  for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
  done
  mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  touch "$root/dev/console"
  mount --bind "$STATE/console.log" "$root/dev/console"
  # The host's /tmp (and this sandbox's own folder in it) stays out of sight.
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
  hostname "$HOSTNAME_IN"
  ip link set lo up 2>/dev/null || true
  mkdir -p "$root/.oldroot"
  cd "$root"
  pivot_root . .oldroot
  exec chroot . /bin/sh -c '
    umount -l /.oldroot && rmdir /.oldroot
    exec env -i container=secondself-test \
      LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      setpriv --bounding-set '"$DROP_CAPS"' '"$SYSTEMD"' --unit=multi-user.target \
      --log-target=journal </dev/null >/dev/console 2>&1'
}

prepare_upper() {
  local upper=$STATE/upper unit
  mkdir -p "$upper/etc/systemd/system" "$STATE/work" "$STATE/root"
  for unit in "${MASK[@]}"; do
    ln -sfn /dev/null "$upper/etc/systemd/system/$unit"
  done
  ln -sfn /lib/systemd/system/multi-user.target "$upper/etc/systemd/system/default.target"
  # A machine of its own: its own journal folder, no fstab mounts, its hostname.
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$upper/etc/machine-id"
  echo >>"$upper/etc/machine-id"
  echo "# secondself systemd sandbox: no mounts" >"$upper/etc/fstab"
  echo "$HOSTNAME_IN" >"$upper/etc/hostname"
  : >"$STATE/console.log"
  # The sandbox has no network: Debian packages it will need are fetched here, into its
  # apt cache (apt-get install then finds them there).
  if [ -n "${SANDBOX_DEBS:-}" ]; then
    local archives=$upper/var/cache/apt/archives
    mkdir -p "$archives/partial"
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -q --download-only -o Dir::Cache::archives="$archives" \
      -o APT::Sandbox::User=root $SANDBOX_DEBS >&2 || die "cannot fetch $SANDBOX_DEBS"
    rm -f "$archives/lock"
  fi
}

boot() {
  local reason
  reason=$(why_not)
  [ -z "$reason" ] || die "cannot boot: $reason"
  if running_pid >/dev/null; then
    die "already running (pid $(running_pid)); stop it first"
  fi
  [ -e "$STATE" ] && stop_quietly
  mkdir -p "$STATE"
  chmod 0700 "$STATE"
  prepare_upper
  local cg
  cg="$(cgroup2_root)/secondself-sandbox.$$"
  mkdir "$cg"
  echo "$cg" >"$STATE/cgroup"
  # setsid: the sandbox outlives this shell; --kill-child: killing unshare kills systemd.
  setsid bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" \
    unshare --pid --fork --kill-child --mount --propagation private --net --uts --ipc \
    --cgroup bash "$SELF" __init </dev/null >>"$STATE/console.log" 2>&1 &
  local launcher=$! pid="" i
  echo "$launcher" >"$STATE/launcher"
  for i in $(seq 1 100); do
    pid=$(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null | awk '{print $1}') || true
    [ -n "$pid" ] && break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$pid" ] || { tail -20 "$STATE/console.log" >&2; stop_quietly; die "it did not start"; }
  echo "$pid" >"$STATE/pid"
  # Wait for systemd to answer, then for the boot to finish.
  local deadline=$((SECONDS + BOOT_TIMEOUT)) state=""
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || break
    if [ -S "/proc/$pid/root/run/systemd/private" ]; then
      state=$(in_sandbox timeout 5 systemctl is-system-running 2>/dev/null) || true
      case "$state" in running|degraded) break ;; esac
    fi
    sleep 0.5
  done
  case "$state" in
    running) echo "systemd_sandbox: up, pid $pid, system $state" >&2 ;;
    degraded)
      echo "systemd_sandbox: up, pid $pid, system degraded; failed units:" >&2
      in_sandbox systemctl --failed --no-legend --plain >&2 || true ;;
    *) tail -30 "$STATE/console.log" >&2; stop_quietly
       die "systemd did not finish booting in ${BOOT_TIMEOUT}s (state: ${state:-none})" ;;
  esac
}

stop_quietly() {
  local pid launcher i cg
  if pid=$(running_pid); then
    # SIGRTMIN+4 asks systemd in a container to power off; it exits once it has.
    kill -s RTMIN+4 "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  launcher=$(cat "$STATE/launcher" 2>/dev/null) || true
  if [ -n "${launcher:-}" ] && kill -0 "$launcher" 2>/dev/null; then
    kill -KILL "$launcher" 2>/dev/null || true  # --kill-child takes the sandbox with it
  fi
  if pid=$(cat "$STATE/pid" 2>/dev/null) && [ -n "$pid" ]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  cg=$(cat "$STATE/cgroup" 2>/dev/null) || true
  if [ -n "${cg:-}" ] && [ -d "$cg" ]; then
    # Whatever is left in its cgroup (nothing, normally), then the cgroups themselves.
    for i in $(seq 1 50); do
      [ -z "$(cat "$cg/cgroup.procs" 2>/dev/null; find "$cg" -mindepth 2 -name cgroup.procs \
        -exec cat {} + 2>/dev/null)" ] && break
      if [ -w "$cg/cgroup.kill" ]; then echo 1 >"$cg/cgroup.kill"; fi
      sleep 0.1
    done
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi
  # The mounts lived in the sandbox's mount namespace only: with it gone, the folder is
  # plain files (the work dir holds a root-only 0000 folder: rm -rf copes).
  case "$STATE" in /|/tmp|/tmp/) die "refusing to remove $STATE" ;; esac
  rm -rf --one-file-system "$STATE"
}

case "${1:-}" in
  __init) init_inside ;;
  boot) boot ;;
  exec) shift; [ $# -gt 0 ] || die "exec needs a command"; in_sandbox "$@" ;;
  pid) running_pid || die "not running" ;;
  stop) stop_quietly; echo "systemd_sandbox: stopped, $STATE removed" >&2 ;;
  check) reason=$(why_not); [ -z "$reason" ] || { echo "$reason"; exit 1; }; echo ok ;;
  *) sed -n '2,12p' "$SELF" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
