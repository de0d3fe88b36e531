#!/usr/bin/env bash
# What `npm start` runs: installs node_modules if missing, builds data assets when the project
# has a build step for them, then serves the playground with Vite's dev server.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=127.0.0.1
PORT=5173

if [[ ! -d node_modules ]]; then
  echo "start: node_modules is missing: running npm ci"
  npm ci
fi

# Data assets (datasets, base checkpoints) come from scripts/build-assets.* when that exists.
shopt -s nullglob
assets=(scripts/build-assets.*)
shopt -u nullglob
if [[ ${#assets[@]} -gt 0 ]]; then
  script="${assets[0]}"
  echo "start: building data assets with $script"
  case "$script" in
    *.sh) bash "$script" ;;
    *.mjs | *.js) node "$script" ;;
    *.ts) node --import tsx --import ./scripts/wgsl-hooks.mjs "$script" ;;
    *) echo "start: don't know how to run $script" >&2; exit 1 ;;
  esac
fi

cat <<MSG

  Sparse Adapter Playground: http://$HOST:$PORT/

  Open it in a browser with WebGPU (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows).
  On Linux, start Chrome/Chromium with WebGPU switched on:
      chromium --enable-unsafe-webgpu --enable-features=Vulkan http://$HOST:$PORT/
  Without a GPU (SwiftShader, a software adapter — slow but complete):
      chromium --enable-unsafe-webgpu http://$HOST:$PORT/
  Use http://127.0.0.1 or http://localhost (a secure context): over plain http on another
  host name the browser hides WebGPU.

MSG

exec node node_modules/vite/bin/vite.js --host "$HOST" --port "$PORT" --strictPort
