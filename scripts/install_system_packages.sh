#!/usr/bin/env bash
# Installs the Debian packages the service and its tests use, where this user may; otherwise explains.
# (Pango draws the transparency PDF; Tesseract reads MRZs; Chromium runs the browser tests.)
set -euo pipefail
packages=(chromium fonts-dejavu-core fonts-ocr-b libpango-1.0-0 libpangoft2-1.0-0 tesseract-ocr)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: Debian packages ${missing[*]} are missing and this user cannot install them;" \
       "the tests that need them will be skipped (as root: apt-get install ${missing[*]})."
fi
