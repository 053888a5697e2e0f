#!/usr/bin/env bash
# Installs what the `vpdq` package (Meta's video PDQ, built from source by pip) needs to compile:
# Debian's FFmpeg development libraries, pkg-config, cmake and a C++ compiler; plus the ffmpeg command
# line, which the video tests use to make H.264 copies of synthetic videos. Does nothing when they are
# all present. Run it before `pip install` of the project (make does).
set -euo pipefail
LIBS="libavcodec libavformat libavdevice libavutil libswscale libswresample libavfilter"
missing=""
for lib in $LIBS; do
  if ! pkg-config --exists "$lib" 2>/dev/null; then missing="$missing $lib-dev"; fi
done
command -v pkg-config >/dev/null || missing="$missing pkg-config"
command -v cmake >/dev/null || missing="$missing cmake"
command -v g++ >/dev/null || missing="$missing g++"
command -v ffmpeg >/dev/null || missing="$missing ffmpeg"
# pkg-config missing means every library looked missing: name them all
if ! command -v pkg-config >/dev/null; then
  missing="$missing $(for lib in $LIBS; do printf '%s-dev ' "$lib"; done)"
fi
if [ -z "${missing// /}" ]; then
  exit 0
fi
echo "installing for vpdq (video hashing):$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "error: these Debian packages are missing and this user cannot install them; run as root:" >&2
  echo "  apt-get install$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # one word per package
$SUDO apt-get install -y -qq --no-install-recommends $(echo "$missing" | tr ' ' '\n' | sort -u) >/dev/null
for lib in $LIBS; do pkg-config --exists "$lib"; done
command -v ffmpeg >/dev/null
