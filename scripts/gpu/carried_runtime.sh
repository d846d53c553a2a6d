# Sourced by the scripts that run on the lent GPU machine, where nothing is compiled: the binaries
# built on the dev machine travel xz-compressed, their Debian libraries as .deb files.

# unpack_binaries DIR FILE.xz...: each FILE.xz decompressed to DIR/FILE, executable.
unpack_binaries() {
  local dir=$1 f
  shift
  mkdir -p "$dir"
  for f in "$@"; do
    python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$f" \
      "$dir/$(basename "$f" .xz)"
    chmod +x "$dir/$(basename "$f" .xz)"
  done
}

# use_runtime_libraries DEBS_DIR: the carried Debian libraries (oneDNN, utf8proc, pcre2) unpacked
# beside the binaries, never into /, and CUDA 13's runtime and cuBLASLt from the machine's toolkit
# or its Python wheels (torch's nvidia packages), prepended to LD_LIBRARY_PATH.
use_runtime_libraries() {
  local debs=$1 libs="" d deb
  if [[ -d "$debs" ]]; then
    mkdir -p /tmp/deps
    for deb in "$debs"/*.deb; do dpkg -x "$deb" /tmp/deps; done
    libs=/tmp/deps/usr/lib/x86_64-linux-gnu
  fi
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import glob, nvidia, os; [print(p) for b in nvidia.__path__ for p in glob.glob(os.path.join(b, "*", "lib"))]' 2>/dev/null); do
    [[ -d "$d" ]] && libs="$libs:$d"
  done
  export LD_LIBRARY_PATH="${libs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
