#!/usr/bin/env bash
# One set-up for `make run`, `make test` and `make setup`: installs what is missing and
# nothing else, so a second run finishes in seconds.
#   scripts/setup.sh           run-time needs: Debian packages, venv, models (quick check)
#   scripts/setup.sh --test    also the test tools (virtual sound card, speech tools)
#   scripts/setup.sh --full    also rehash every model file (finds silent corruption)
set -euo pipefail
cd "$(dirname "$0")/.."

TEST=0
FULL=0
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    --full) FULL=1 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

CACHE="${SECONDSELF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secondself}"
VENV=.venv
LLAMA_VERSION=0.3.36
STEP=""

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
step() { STEP="$1"; }
trap 'rc=$?; [ $rc -ne 0 ] && printf "setup: FAILED during: %s (exit %s)\n" "$STEP" "$rc" >&2' EXIT
# pip.conf on some machines names local indexes that do not exist; their warnings are noise.
quiet_pip() { grep -v -E "is ignored: it is neither a file nor a directory" || true; }

# --- Debian packages ----------------------------------------------------------------------
step "Debian packages"
PACKAGES=(libportaudio2 libsndfile1 python3-venv python3-dev cmake g++)
if [ "$TEST" = 1 ]; then
  # the virtual sound card and speech tools; systemd-analyze and seccomp for the unit's tests;
  # a browser and its driver for the web page's end-to-end test
  PACKAGES+=(pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox systemd python3-seccomp
             chromium chromium-driver)
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# --- llama-cpp-python: compiled once per CPU, then reused from the cache -----------------
step "llama-cpp-python build"
# The wheel is built for this CPU's features (faster); the key keeps a different CPU
# (or a Pi) from reusing it.
cpu_key="$(uname -m)-$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | sha256sum | cut -c1-12)-b3"
WHEELS="$CACHE/wheels/$cpu_key"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION for this CPU (once; about 4 min on 2 x86 cores, 20-40 min on a Pi 5)"
  mkdir -p "$WHEELS"
  build_venv="$CACHE/build-venv"
  [ -x "$build_venv/bin/pip" ] || python3 -m venv "$build_venv"
  "$build_venv/bin/pip" install -q --upgrade pip wheel 2>&1 | quiet_pip
  cmake_args="${CMAKE_ARGS:-}"
  if [ -z "$cmake_args" ]; then
    # ggml's own thread pool, not OpenMP: OpenMP threads spin and slow down 2-4x when
    # another process (the wake word, piper) holds a core.
    cmake_args="-DGGML_OPENMP=OFF"
    if [ "$(uname -m)" = x86_64 ]; then
      # Not GGML_NATIVE: on CPUs with AMX (Sapphire Rapids) llama.cpp's AMX path segfaults
      # in its first decode (ggml-org/llama.cpp#20824). Name this CPU's features instead.
      cmake_args+=" -DGGML_NATIVE=OFF"
      has() { grep -q -w "$1" /proc/cpuinfo; }
      has avx2 && cmake_args+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
      has avx_vnni && cmake_args+=" -DGGML_AVX_VNNI=ON"
      has avx512f && cmake_args+=" -DGGML_AVX512=ON"
      has avx512vbmi && cmake_args+=" -DGGML_AVX512_VBMI=ON"
      has avx512_vnni && cmake_args+=" -DGGML_AVX512_VNNI=ON"
      has avx512_bf16 && cmake_args+=" -DGGML_AVX512_BF16=ON"
    fi
  fi
  # -v streams the compiler's progress ([n/m] lines) so a long build is visibly alive.
  CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$build_venv/bin/pip" wheel -v --no-cache-dir --no-deps \
      -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION" 2>&1 \
    | sed -u -n -E 's/^\s*\[([0-9]+)\/([0-9]+)\].* -o ([^ ]*\/)?([^ /]+) .*/  compiling [\1\/\2] \4/p; /ERROR|error:/p' || true
  ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1 \
    || { echo "setup: llama-cpp-python failed to build (needs cmake and g++)" >&2; exit 1; }
fi

# --- virtualenv ---------------------------------------------------------------------------
step "Python virtualenv"
# The daemon needs [convert] (models are converted at set-up); the tests also need [dev]
# (pytest, ruff, mypy, llama.cpp's server). A venv set up for the tests serves the daemon too.
EXTRAS=convert
[ "$TEST" = 1 ] && EXTRAS=convert,dev
stamp_base="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-$cpu_key"
stamp_had="$(cat "$VENV/.setup-stamp" 2>/dev/null || true)"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv in $VENV"
  python3 -m venv "$VENV"
fi
if [ "$stamp_had" != "$stamp_base-$EXTRAS" ] && [ "$stamp_had" != "$stamp_base-convert,dev" ]; then
  say "installing Python packages into $VENV (pinned in constraints.txt)"
  "$VENV/bin/pip" install -q --upgrade pip 2>&1 | quiet_pip
  "$VENV/bin/pip" install --progress-bar on -c constraints.txt --find-links "$WHEELS" \
      -e ".[$EXTRAS]" 2>&1 | quiet_pip
  # Same version, other build flags: pip would keep the old build unless told.
  "$VENV/bin/pip" install -q --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl \
    2>&1 | quiet_pip
  echo "$stamp_base-$EXTRAS" > "$VENV/.setup-stamp"
fi

# --- test tools in the virtualenv ---------------------------------------------------------
if [ "$TEST" = 1 ]; then
  step "Python test tools"
  test_stamp="$(cat constraints.txt requirements-test.txt | sha256sum | cut -c1-16)"
  if [ "$(cat "$VENV/.test-stamp" 2>/dev/null)" != "$test_stamp" ]; then
    say "installing the Python test tools (requirements-test.txt, pinned in constraints.txt)"
    "$VENV/bin/pip" install -q -c constraints.txt -r requirements-test.txt 2>&1 | quiet_pip
    echo "$test_stamp" > "$VENV/.test-stamp"
  fi
fi

# --- models -------------------------------------------------------------------------------
step "models"
if [ "$FULL" = 1 ]; then
  "$VENV/bin/secondself" models fetch --full
else
  "$VENV/bin/secondself" models fetch
fi
step "done"
