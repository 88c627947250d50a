# shellcheck shell=bash
# Idempotent, quiet installs of what ./scripts/test needs. Sourced by scripts/test; every
# function is a no-op when its tools are already there. Output goes to a log that is shown
# only when the install fails.
#
#   install_apt         Debian packages (servers, promtool, build deps of python-gammu, Kannel
#                       as a third-party SMPP client)
#   install_python      scripts/.venv from scripts/requirements.txt (hash-stamped)
#   install_node        scripts/node_modules from scripts/package.json (+ package-lock.json)
#   install_rust_components  rustfmt and clippy, via rustup, if cargo lacks them
#   install_cargo_fuzz  cargo-fuzz, unless `cargo fuzz` already works
#   install_cargo_deb   cargo-deb (the packaging test builds the .deb), unless present

APT_PACKAGES=(rabbitmq-server redis-server redis-sentinel prometheus libgammu-dev pkg-config kannel systemd)

# _quiet LOG CMD...: run CMD with its output in LOG; on failure show the tail and fail.
_quiet() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    echo "error: '$*' failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}

install_apt() {
  local missing=() p sudo=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  # A Debian python3 without pyenv needs these for `python3 -m venv` and building python-gammu.
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
    missing+=(python3-dev)
  command -v c++ >/dev/null || missing+=(g++) # python-gammu and libfuzzer-sys compile C/C++
  command -v npm >/dev/null || missing+=(nodejs npm)
  command -v pgrep >/dev/null || missing+=(procps) # servers.sh finds leftover processes
  command -v curl >/dev/null || missing+=(curl)     # the README quick-start test runs curl
  command -v openssl >/dev/null || missing+=(openssl) # the test CA of the TLS listeners
  ((${#missing[@]})) || return 0

  echo "installing Debian packages: ${missing[*]}"
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  # Lock::Timeout: wait for another apt/dpkg (e.g. unattended upgrades) instead of failing.
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900)
  _quiet "$RICHMOND_LOG_DIR/apt-update.log" "${apt[@]}" update
  _quiet "$RICHMOND_LOG_DIR/apt-install.log" "${apt[@]}" install -y --no-install-recommends \
    "${missing[@]}"
  # The tests start their own bearerbox/smsbox; the package's service is not wanted.
  if [[ " ${missing[*]} " == *" kannel "* ]]; then
    { "${sudo[@]}" service kannel stop || "${sudo[@]}" systemctl stop kannel; } >/dev/null 2>&1 || true
  fi
}

install_python() {
  local venv=$SCRIPTS_DIR/.venv req=$SCRIPTS_DIR/requirements.txt want
  # The stamp covers the requirements and the interpreter, so either change reinstalls.
  want=$({ cat "$req"; python3 --version; } | sha256sum | cut -d' ' -f1)
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c '' 2>/dev/null &&
    [[ $(cat "$venv/.requirements.sha256" 2>/dev/null) == "$want" ]]; then
    return 0
  fi
  echo "installing Python packages into scripts/.venv"
  rm -rf "$venv"
  _quiet "$RICHMOND_LOG_DIR/venv.log" python3 -m venv "$venv"
  _quiet "$RICHMOND_LOG_DIR/pip.log" "$venv/bin/python" -m pip install \
    --disable-pip-version-check --no-input -r "$req"
  echo "$want" >"$venv/.requirements.sha256"
}

_node_hash() { cat "$SCRIPTS_DIR"/package{,-lock}.json 2>/dev/null | sha256sum || true; }

install_node() {
  local stamp=$SCRIPTS_DIR/node_modules/.richmond-stamp want
  want=$(_node_hash)
  [[ $(cat "$stamp" 2>/dev/null) == "$want" ]] && return 0
  echo "installing npm packages into scripts/node_modules"
  local verb=install
  [[ -f $SCRIPTS_DIR/package-lock.json ]] && verb=ci # exact versions from the lock file
  (cd "$SCRIPTS_DIR" &&
    _quiet "$RICHMOND_LOG_DIR/npm.log" npm "$verb" --no-audit --no-fund --loglevel=error)
  # `npm install` may just have written the lock file: stamp what is there now.
  _node_hash >"$stamp"
}

install_rust_components() {
  local c
  for c in rustfmt clippy; do
    cargo "${c/rust/}" --version >/dev/null 2>&1 && continue # `cargo fmt`, `cargo clippy`
    echo "installing the $c component"
    _quiet "$RICHMOND_LOG_DIR/rustup.log" rustup component add "$c"
  done
}

install_cargo_fuzz() {
  cargo fuzz --version >/dev/null 2>&1 && return 0
  echo "installing cargo-fuzz (about 40 s)"
  _quiet "$RICHMOND_LOG_DIR/cargo-fuzz.log" cargo install cargo-fuzz --locked
}

install_cargo_deb() {
  cargo deb --version >/dev/null 2>&1 && return 0
  echo "installing cargo-deb (about 2 min)"
  _quiet "$RICHMOND_LOG_DIR/cargo-deb.log" cargo install cargo-deb --locked
}
