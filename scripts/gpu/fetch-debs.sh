#!/usr/bin/env bash
# On the dev machine (Debian 12): downloads the Debian packages tessera builds against into .deps/
# (ignored by git), for scripts/gpu/run_gpu.sh to unpack on the GPU machine, which has none of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .deps
grep -qx "/.deps/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.deps/" >>.git/info/exclude; }
cd .deps
apt-get download nlohmann-json3-dev libutf8proc-dev libutf8proc2 libpcre2-dev libpcre2-8-0 libpcre2-16-0 \
  libpcre2-32-0 libpcre2-posix3 libdnnl-dev libdnnl2 libcli11-dev libgtest-dev libbenchmark-dev \
  libbenchmark1debian zlib1g-dev pkgconf pkgconf-bin libpkgconf3
