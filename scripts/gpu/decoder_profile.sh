set -u
OUT=${OUT:-/tmp/o}; mkdir -p $OUT
python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' .gpu-carry/tessera.xz /tmp/tessera; chmod +x /tmp/tessera
mkdir -p /tmp/deps; for d in .gpu-carry/debs/*.deb; do dpkg -x $d /tmp/deps; done
libs=/tmp/deps/usr/lib/x86_64-linux-gnu
for d in $(python3 -c 'import glob, nvidia, os; [print(p) for b in nvidia.__path__ for p in glob.glob(os.path.join(b, "*", "lib"))]'); do libs="$libs:$d"; done
export LD_LIBRARY_PATH=$libs
export TESSERA_HOME=$PWD
/tmp/tessera bench --models llama-3-8b --device cuda --dtype bfloat16 --batch 1 --seq 512 --runs 20 --cache-dir /tmp/dc 2>&1 | grep -E "llama|error" | tail -4
M=$(ls -d /tmp/dc/models/llama-3-8b*)
IDS=$(python3 -c "print(','.join(str(i) for i in range(1000,1128)))")
TESSERA_PROFILE=1 /tmp/tessera generate $M --device cuda --dtype bfloat16 --prompt-ids $IDS --max-tokens 65 --json 2>&1 | tail -32
