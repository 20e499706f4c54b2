# Shared helpers for the project's scripts. Sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Service data lives in the project unless RECOSCOPE_STACK_DIR says otherwise.
STACK_DIR="${RECOSCOPE_STACK_DIR:-$ROOT/.stack}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
# A MongoDB wire-protocol server for the MongoDB store adapters' conformance tests.
MONGO_PORT="${MONGO_PORT:-27017}"
# Tools built from crates.io are cached here and reused across clones and CI runs.
TOOLS_DIR="${RECOSCOPE_TOOLS_DIR:-$HOME/.cache/recoscope/tools}"
export PATH="$TOOLS_DIR/bin:$HOME/.cargo/bin:$PATH"

# Pinned tool versions (see docs/ARCHITECTURE.md for why these).
TANSU_VERSION="0.6.0"
# The MongoDB wire-protocol server from PyPI (the stack's and the compose stand-in's).
SECANTUS_VERSION="0.7.0b3"
CARGO_LEPTOS_VERSION="0.3.10"

log() { printf '\033[1;34m[recoscope]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[recoscope]\033[0m %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# cargo install into TOOLS_DIR unless the binary already reports the wanted version.
# TOOL_TAKES, when set, says how long the build takes (for the progress line).
cargo_tool() {
  local bin="$1" version="$2"; shift 2
  if [ -x "$TOOLS_DIR/bin/$bin" ] && "$TOOLS_DIR/bin/$bin" --version 2>/dev/null | grep "$version" >/dev/null; then
    return 0
  fi
  log "building $bin $version from crates.io${TOOL_TAKES:+, $TOOL_TAKES} (once; cached in $TOOLS_DIR)"
  # Tools are built for a short first run, not for peak speed: opt-level 1 (C parts too)
  # built the broker in 472 s instead of 677 s at opt-level 3, and it still outpaces our test loads.
  CARGO_PROFILE_RELEASE_OPT_LEVEL="${RECOSCOPE_TOOLS_OPT_LEVEL:-1}" \
    cargo install --root "$TOOLS_DIR" "$@"
}

# Podman with runc (crun fails on these machines) and debootstrap for a local base image.
container_tools() {
  apt_install podman runc debootstrap
}

# Docker Engine and docker-compose from Debian, for compose.yaml's topology
# (scripts/compose-standins). Without systemd nothing starts the daemon, so start it here.
docker_engine() {
  apt_install docker.io docker-compose
  docker info >/dev/null 2>&1 && return 0
  log "starting dockerd (log: /var/log/recoscope-dockerd.log)"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo bash -c 'nohup dockerd >/var/log/recoscope-dockerd.log 2>&1 &'
  wait_for 60 dockerd docker info || die "dockerd did not start: see /var/log/recoscope-dockerd.log"
}

# Waits until a command succeeds, up to $1 seconds.
wait_for() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
  log "$what is up"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The wasm32 target and wasm-bindgen-cli at exactly the version in Cargo.lock.
wasm_tools() {
  rustup target list --installed 2>/dev/null | grep wasm32-unknown-unknown >/dev/null \
    || rustup target add wasm32-unknown-unknown
  local wbg; wbg="$(wasm_bindgen_version)"
  # Not --locked: its lockfile wants a webpki-roots release the registry mirror lacks.
  TOOL_TAKES="about 1.5 minutes" cargo_tool wasm-bindgen "$wbg" wasm-bindgen-cli --version "=$wbg"
}

# From npm: ECharts (copied into public/vendor, served by the app; never a CDN) and binaryen's
# wasm-opt (on PATH for cargo-leptos release builds).
npm_assets() {
  command -v npm >/dev/null || apt_install nodejs npm
  (cd "$ROOT" && npm ci --no-audit --no-fund --silent)
  export PATH="$ROOT/node_modules/.bin:$PATH"
  mkdir -p "$ROOT/public/vendor"
  cp "$ROOT/node_modules/echarts/dist/echarts.min.js" "$ROOT/public/vendor/echarts.min.js"
}

# Everything `cargo leptos build|watch` needs.
frontend_tools() {
  wasm_tools
  npm_assets
  # no_downloads: cargo-leptos uses the tools on PATH and never fetches from the web.
  cargo_tool cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-leptos --version "$CARGO_LEPTOS_VERSION" \
    --locked --features no_downloads
}

# The embeddable tracker as pages download it, into $1 (see scripts/tracker-build).
tracker_bundle() {
  local out="$1"
  wasm_tools
  npm_assets
  cargo build -q -p recoscope-tracker --lib --features bare --target wasm32-unknown-unknown \
    --profile wasm-release
  local target="${CARGO_TARGET_DIR:-$ROOT/target}"
  local work="$target/tracker-build"
  rm -rf "$work" && mkdir -p "$work" "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name recoscope_tracker \
    "$target/wasm32-unknown-unknown/wasm-release/recoscope_tracker.wasm"
  # The features rustc's wasm32 target emits by default, so wasm-opt accepts the module.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --strip-debug --strip-producers \
    -o "$out/recoscope.wasm" "$work/recoscope_tracker_bg.wasm"
  esbuild "$ROOT/tracker-wasm/js/tracker.js" --bundle --minify --format=esm --target=es2020 \
    --alias:recoscope-tracker-core="$work/recoscope_tracker.js" --log-level=warning \
    --outfile="$out/recoscope.js"
  cp "$ROOT/tracker-wasm/js/loader.html" "$out/loader.html"
}

# Compresses the files pages download (scripts, wasm, styles, icons) next to themselves as
# name.br and name.gz, so the server sends them by Accept-Encoding without compressing on
# every request (ECharts: 1.03 MB plain, 0.27 MB brotli). $2: brotli quality (11, the
# smallest, takes seconds per megabyte: fine for a release, slow for a 10 MB debug bundle).
precompress() {
  local dir="$1" quality="${2:-11}"
  command -v brotli >/dev/null || apt_install brotli
  find "$dir" -type f \( -name '*.js' -o -name '*.wasm' -o -name '*.css' -o -name '*.svg' \
    -o -name '*.html' -o -name '*.json' \) -size +1k -print0 \
    | while IFS= read -r -d '' file; do
        gzip -9 -n -k -f "$file"
        brotli -q "$quality" -k -f "$file"
      done
}

# One digest of everything a site is made of: the dashboard's wasm as cargo built it, the
# tracker's sources and compiler, the styles and public files, and these scripts (how it is
# laid out).
site_inputs_digest() {
  local wasm="$1"
  {
    rustc --version
    sha256sum "$wasm"
    find "$ROOT/style" "$ROOT/public" "$ROOT/tracker-wasm" "$ROOT/scripts/lib.sh" \
      "$ROOT/Cargo.lock" "$ROOT/package-lock.json" -type f -not -path '*/target/*' -print0 \
      | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

# Lays out a site root in $1 the way cargo-leptos does: the hydrate bundle as
# pkg/recoscope.js + pkg/recoscope_bg.wasm, the CSS as pkg/recoscope.css, the public assets and
# the tracker, every file precompressed. $2 = dev (default: a quick debug build, for the browser
# tests) or release (the wasm-release profile, then wasm-opt -Oz: what `scripts/run` and the
# image serve). Neither needs cargo-leptos, which only the `cargo leptos watch` loop uses.
site_bundle() {
  local site="$1" profile="${2:-dev}"
  wasm_tools
  npm_assets
  local target="${CARGO_TARGET_DIR:-$ROOT/target}" wasm
  if [ "$profile" = release ]; then
    cargo build -q -p recoscope-frontend --lib --target wasm32-unknown-unknown --profile wasm-release
    wasm="$target/wasm32-unknown-unknown/wasm-release/recoscope_frontend.wasm"
  else
    cargo build -q -p recoscope-frontend --lib --target wasm32-unknown-unknown
    wasm="$target/wasm32-unknown-unknown/debug/recoscope_frontend.wasm"
  fi
  # A release site is only laid out again when something it is made of changed: wasm-opt
  # and brotli at quality 11 take half a minute, the rest of a warm start a second.
  local stamp=""
  if [ "$profile" = release ]; then
    stamp="$(site_inputs_digest "$wasm")"
    if [ -f "$site/pkg/recoscope_bg.wasm.br" ] \
      && [ "$(cat "${site%/}.inputs" 2>/dev/null)" = "$stamp" ]; then
      log "the site is up to date ($site)"
      return 0
    fi
  fi
  rm -rf "$site" && mkdir -p "$site/pkg"
  wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name recoscope "$wasm"
  if [ "$profile" = release ]; then
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --strip-debug --strip-producers \
      -o "$site/pkg/recoscope_bg.wasm" "$site/pkg/recoscope_bg.wasm"
  fi
  cp "$ROOT/style/main.css" "$site/pkg/recoscope.css"
  cp -r "$ROOT/public/." "$site/"
  tracker_bundle "$site/t"
  if [ "$profile" = release ]; then
    precompress "$site" 11
    local w="$site/pkg/recoscope_bg.wasm"
    log "dashboard bundle: $(stat -c%s "$w") bytes of wasm, $(stat -c%s "$w.gz") gzip, $(stat -c%s "$w.br") brotli"
    echo "$stamp" >"${site%/}.inputs"
  else
    precompress "$site" 5
  fi
}
