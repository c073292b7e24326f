#!/usr/bin/env bash
# A software Vulkan driver (Mesa's lavapipe) for the webgpu tests, unpacked privately into
# .cache/lavapipe without changing the system's drivers. Debian bookworm's own Mesa (22.3) is
# too old for Dawn; bookworm-backports' is not. Prints the environment that selects it:
#   eval "$(bash scripts/lavapipe.sh)"
# Needs root for apt (the runtime libraries Mesa links against come from Debian itself).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.cache/lavapipe"
lib="$dest/root/usr/lib/$(uname -m)-linux-gnu"
if [ ! -f "$dest/env" ]; then
  if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq >&2
  # Mesa's runtime dependencies from bookworm itself; the loader too.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 libllvm15 libwayland-client0 libx11-xcb1 libxcb-dri3-0 \
    libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libelf1 libzstd1 libexpat1 >&2
  tmp="$(mktemp -d)"
  (cd "$tmp" && chmod 777 . && apt-get download -qq mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports >&2)
  rm -rf "$dest" && mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest/root"; done
  rm -rf "$tmp"
  cat > "$dest/lvp_icd.json" <<JSON
{ "file_format_version": "1.0.0", "ICD": { "api_version": "1.4.305", "library_path": "$lib/libvulkan_lvp.so" } }
JSON
fi
# The same environment as a file, for scripts/test.mjs, which gives it to the webgpu tests only.
printf 'VK_ICD_FILENAMES=%s\nLD_LIBRARY_PATH=%s\n' "$dest/lvp_icd.json" "$lib" > "$dest/env"
echo "export VK_ICD_FILENAMES='$dest/lvp_icd.json' LD_LIBRARY_PATH='$lib'${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} RINGTRAIN_WEBGPU_TESTS=lavapipe"
