#!/usr/bin/env bash
# Builds the browser demo: the weakseg-web crate for wasm32, then
# wasm-bindgen's JavaScript glue into examples/web/pkg, or into the folder
# given as the first argument. Serve examples/web with any static server and
# open index.html.
# Needs: rustup target wasm32-unknown-unknown, and wasm-bindgen-cli at the
# version Cargo.lock pins (cargo install wasm-bindgen-cli --version V).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}') || true
if [ "$have" != "$want" ]; then
    echo "build.sh: wasm-bindgen-cli $want is needed (found: ${have:-none});" \
        "run: cargo install wasm-bindgen-cli --version $want" >&2
    exit 3
fi
target="${CARGO_TARGET_DIR:-$root/target}"
out="${1:-$root/examples/web/pkg}"
cargo build -p weakseg-web --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript \
    --out-dir "$out" \
    "$target/wasm32-unknown-unknown/release/weakseg_web.wasm"
echo "built $out"
