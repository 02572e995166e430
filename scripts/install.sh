#!/usr/bin/env bash
# Install secondself as a system service on Raspberry Pi OS Bookworm (aarch64) or Debian 12.
#
#   sudo scripts/install.sh                  install or upgrade, enable and start the service
#   sudo scripts/install.sh --no-start       install and enable, start later
#   sudo scripts/install.sh --uninstall      remove the service and the code; keep the data,
#                                            the config and the user
#   sudo scripts/install.sh --uninstall --wipe-data   ... and the data, config and user too
#   scripts/install.sh --dry-run [...]       print what it would do, change nothing
#
# Layout: the code, its virtualenv and the models in $PREFIX (/opt/secondself, read-only to
# the service), the data in /var/lib/secondself (StateDirectory=), the config in
# /etc/secondself/config.toml (ConfigurationDirectory=), the unit in /etc/systemd/system.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/secondself
SERVICE_USER=secondself
UNIT_NAME=secondself.service
UNIT_DIR=/etc/systemd/system
STATE_DIR=/var/lib/secondself
CONFIG_DIR=/etc/secondself
DEFAULT_CACHE_DIR=/var/cache/secondself
CACHE_DIR="${SECONDSELF_CACHE:-$DEFAULT_CACHE_DIR}"
GROUPS_WANTED=(audio video gpio)
PACKAGES=(python3-venv python3-dev libportaudio2 cmake g++ rsync alsa-utils)

ACTION=install
DRY=0
START=1
WIPE=0

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install: $*" >&2; exit 1; }
say() { printf 'install: %s\n' "$*" >&2; }
# Every change goes through run: printed with --dry-run, else executed.
run() {
  if [ "$DRY" = 1 ]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
# Writes stdin to a file (printed, not written, with --dry-run).
write_file() {
  local path=$1 mode=$2
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode %s):\n' "$path" "$mode"
    sed 's/^/    /'
  else
    install -m "$mode" /dev/stdin "$path"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --uninstall) ACTION=uninstall ;;
    --wipe-data) WIPE=1 ;;
    --no-start) START=0 ;;
    --prefix) shift; [ $# -gt 0 ] || { echo "install: --prefix needs a folder" >&2; exit 2; }
              PREFIX=$1 ;;
    --prefix=*) PREFIX=${1#--prefix=} ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$WIPE" = 1 ] && [ "$ACTION" != uninstall ] && { echo "install: --wipe-data goes with --uninstall" >&2; exit 2; }
case "$PREFIX" in /*) ;; *) echo "install: --prefix must be an absolute path" >&2; exit 2 ;; esac
PREFIX=${PREFIX%/}

if [ "$DRY" = 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0 $*), or with --dry-run to see what it would do"
fi

check_system() {
  command -v systemctl >/dev/null || die "systemd (systemctl) is needed"
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    case "${ID:-}:${VERSION_CODENAME:-}" in
      debian:bookworm|raspbian:bookworm|debian:trixie) ;;
      *) say "warning: tested on Debian 12 / Raspberry Pi OS Bookworm, this is ${PRETTY_NAME:-unknown}" ;;
    esac
  fi
}

user_exists() { getent passwd "$SERVICE_USER" >/dev/null; }

create_user() {
  if user_exists; then
    say "user $SERVICE_USER exists"
  else
    run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "secondself voice assistant" "$SERVICE_USER"
  fi
  # Only the groups for its devices: sound, camera, GPIO (Raspberry Pi OS has `gpio`).
  local group
  for group in "${GROUPS_WANTED[@]}"; do
    if getent group "$group" >/dev/null; then
      run usermod --append --groups "$group" "$SERVICE_USER"
    else
      say "no group '$group' on this system: skipped"
    fi
  done
}

install_code() {
  run mkdir -p "$PREFIX"
  # The source without the developer's virtualenv, models and caches; models/manifest.toml
  # is kept. An upgrade keeps $PREFIX/.venv and $PREFIX/models (set-up reuses them).
  run rsync -a --delete --chown=root:root \
    --exclude=/.venv --exclude=/.git --exclude=/build --exclude='*.egg-info' \
    --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache --exclude=__pycache__ \
    --include=/models/manifest.toml --exclude='/models/*' \
    "$SRC/" "$PREFIX/"
  # The virtualenv (llama-cpp-python is compiled once: 20-40 min on a Pi 5) and the models,
  # checksummed, in $PREFIX/models: the same set-up as `make setup`.
  run env -C "$PREFIX" SECONDSELF_CACHE="$CACHE_DIR" SECONDSELF_MODELS="$PREFIX/models" \
    bash scripts/setup.sh
  run env SECONDSELF_CACHE="$CACHE_DIR" SECONDSELF_MODELS="$PREFIX/models" \
    "$PREFIX/.venv/bin/secondself" models verify
  run chmod -R a+rX "$PREFIX"
}

install_config() {
  run mkdir -p "$CONFIG_DIR"
  if [ -e "$CONFIG_DIR/config.toml" ]; then
    say "keeping $CONFIG_DIR/config.toml"
  else
    # Every key with its default, commented out: uncomment what you change.
    sed -e 's/^\([a-z_]* *=\)/# \1/' "$SRC/daemon/core/default_config.toml" \
      | write_file "$CONFIG_DIR/config.toml" 0644
  fi
}

install_unit() {
  sed "s#/opt/secondself#$PREFIX#g" "$SRC/systemd/$UNIT_NAME" \
    | write_file "$UNIT_DIR/$UNIT_NAME" 0644
  run systemctl daemon-reload
  run systemctl enable "$UNIT_NAME"
  if [ "$START" = 1 ]; then
    # restart, not start: an upgrade must run the new code. With Type=notify this returns
    # once the daemon said READY=1 (models loaded), or fails.
    run systemctl restart "$UNIT_NAME" \
      || die "the service did not start; see: journalctl -u secondself -n 50"
  fi
}

do_install() {
  check_system
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${PACKAGES[@]}"
  create_user
  install_code
  install_config
  install_unit
  say "installed in $PREFIX; data in $STATE_DIR; config in $CONFIG_DIR/config.toml"
  say "logs: journalctl -u secondself -f    status: systemctl status secondself"
  say "metrics: curl http://127.0.0.1:8765/metrics    reload config: systemctl reload secondself"
  say "web page: its link (with the access token) from" \
      "sudo -u $SERVICE_USER $PREFIX/.venv/bin/secondself --home $STATE_DIR web"
}

do_uninstall() {
  if [ "$DRY" = 1 ] || systemctl cat "$UNIT_NAME" >/dev/null 2>&1; then
    run systemctl disable --now "$UNIT_NAME"
  fi
  run rm -f "$UNIT_DIR/$UNIT_NAME"
  run systemctl daemon-reload
  run systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
  run rm -rf "$PREFIX"
  if [ "$WIPE" = 1 ]; then
    # The download cache goes too when it is the installer's own; a cache named with
    # SECONDSELF_CACHE (a developer's ~/.cache/secondself, reused to skip the downloads)
    # belongs to someone else and stays.
    if [ "$CACHE_DIR" = "$DEFAULT_CACHE_DIR" ]; then
      run rm -rf "$STATE_DIR" "$CONFIG_DIR" "$CACHE_DIR"
    else
      run rm -rf "$STATE_DIR" "$CONFIG_DIR"
      say "kept the cache $CACHE_DIR (SECONDSELF_CACHE): not the installer's own"
    fi
    if [ "$DRY" = 1 ] || user_exists; then
      run userdel "$SERVICE_USER"
    fi
    say "removed the service, the code, the data, the config and the user"
  else
    say "removed the service and the code; kept the data ($STATE_DIR), the config" \
      "($CONFIG_DIR) and the user $SERVICE_USER (--wipe-data removes them)"
  fi
}

if [ "$ACTION" = install ]; then
  do_install
else
  do_uninstall
fi
