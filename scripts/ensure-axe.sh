#!/usr/bin/env bash
# Installs axe-core (the version pinned in tests/axe/package-lock.json) for the accessibility tests, with
# npm ci; installs Debian's npm first when it is absent.
set -euo pipefail
cd "$(dirname "$0")/../tests/axe"
if [ -f node_modules/axe-core/axe.min.js ] && [ node_modules/axe-core/axe.min.js -nt package-lock.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is missing: installing Debian's npm (apt-get) for the accessibility tests" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: npm is missing and this user cannot install it; run as root: apt-get install npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
touch node_modules/axe-core/axe.min.js
