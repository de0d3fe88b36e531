#!/usr/bin/env bash
# Makes sure the system packages the tests need are installed (Debian/Ubuntu, apt):
#   chromium   — headless browser for the end-to-end tests; its SwiftShader Vulkan driver
#                (/usr/lib/chromium/vk_swiftshader_icd.json) is also the software GPU that
#                Node's Dawn (npm `webgpu`) uses on machines without a GPU.
#   libvulkan1 — the Vulkan loader (libvulkan.so.1); without it Dawn says "Couldn't load Vulkan".
# Idempotent and silent when everything is present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json

missing_pkgs=()
reasons=()

if [[ ! -x "$CHROMIUM" || ! -f "$SWIFTSHADER_ICD" ]]; then
  missing_pkgs+=(chromium)
  [[ -x "$CHROMIUM" ]] || reasons+=("  chromium:   $CHROMIUM is missing (headless browser for the end-to-end tests)")
  [[ -f "$SWIFTSHADER_ICD" ]] || reasons+=("  chromium:   $SWIFTSHADER_ICD is missing (SwiftShader software GPU for WebGPU without a GPU)")
fi

has_vulkan_loader() {
  if command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
    return 0
  fi
  # ldconfig may live in /sbin and not be on PATH for non-root users.
  if [[ -x /sbin/ldconfig ]] && /sbin/ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
    return 0
  fi
  return 1
}
if ! has_vulkan_loader; then
  missing_pkgs+=(libvulkan1)
  reasons+=("  libvulkan1: libvulkan.so.1 is missing (Vulkan loader; Node's WebGPU (Dawn) cannot start without it)")
fi

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
  exit 0
fi

echo "ensure-system-deps: the tests need system packages that are not installed:" >&2
printf '%s\n' "${reasons[@]}" >&2
install_cmd="apt-get update && apt-get install -y ${missing_pkgs[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: apt-get not found. This step supports Debian/Ubuntu only." >&2
  echo "Install the equivalent of: ${missing_pkgs[*]} with your package manager, then re-run." >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "ensure-system-deps: installing needs root, and sudo is not available." >&2
    echo "Run this as root, then re-run the tests:" >&2
    echo "    $install_cmd" >&2
    exit 1
  fi
fi

echo "ensure-system-deps: installing with apt: ${missing_pkgs[*]} (running: ${SUDO[*]:+${SUDO[*]} }$install_cmd)" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y "${missing_pkgs[@]}"

# Check again: a package that installed but did not provide the file is still an error.
if [[ ! -x "$CHROMIUM" || ! -f "$SWIFTSHADER_ICD" ]] || ! has_vulkan_loader; then
  echo "ensure-system-deps: packages installed, but $CHROMIUM, $SWIFTSHADER_ICD or libvulkan.so.1 is still missing." >&2
  exit 1
fi
echo "ensure-system-deps: done." >&2
