set -u
OUT=${OUT:-/tmp/o}; mkdir -p $OUT
for f in .gpu-carry/*.xz; do python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' $f /tmp/$(basename $f .xz); done
chmod +x /tmp/tessera /tmp/encoder_latency
mkdir -p /tmp/deps; for d in .gpu-carry/debs/*.deb; do dpkg -x $d /tmp/deps; done
libs=/tmp/deps/usr/lib/x86_64-linux-gnu
for d in $(python3 -c 'import glob, nvidia, os; [print(p) for b in nvidia.__path__ for p in glob.glob(os.path.join(b, "*", "lib"))]'); do libs="$libs:$d"; done
export LD_LIBRARY_PATH=$libs
/tmp/tessera bench --models bert-base --device cuda --dtype float16 --batch 1 --seq 16 --runs 10 --cache-dir /tmp/c 2>&1 | tail -3; ls /tmp/c /tmp/c/models
M=$(ls -d /tmp/c/models/bert-base*)
for shape in 32x512 1x128; do
for r in 2 12; do
  TESSERA_PROFILE=1 /tmp/encoder_latency $M --device cuda --dtypes float16 --shapes $shape --runs $r --warmup 1 > /dev/null 2> $OUT/prof_${shape}_$r.txt
done
python3 - $OUT/prof_${shape}_2.txt $OUT/prof_${shape}_12.txt <<'PY'
import sys,re
def read(p):
    d={}
    for line in open(p):
        m=re.match(r'\s*([A-Za-z_]\w*)\s+([\d.]+)\s+(\d+)\s',line)
        if m: d[m.group(1)]=(int(m.group(3)),float(m.group(2)))
    return d
a=read(sys.argv[1]); b=read(sys.argv[2])
print(sys.argv[2])
tot=0
for k in sorted(b,key=lambda k:-(b[k][1]-a.get(k,(0,0))[1])):
    dc=b[k][0]-a.get(k,(0,0))[0]; dt=(b[k][1]-a.get(k,(0,0))[1])/10
    tot+=dt
    if dt>0.005: print(f"{k:32s} calls/fwd {dc/10:6.1f}  ms/fwd {dt:8.3f}")
print("total ms/fwd", round(tot,3))
PY
done
head -30 $OUT/prof_32x512_12.txt
exit 0
env -u LD_LIBRARY_PATH python3 - <<'PY'
import torch, torch.nn.functional as F
def t(f, n=20):
    for _ in range(3): f()
    torch.cuda.synchronize(); s=torch.cuda.Event(enable_timing=True); e=torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(n): f()
    e.record(); torch.cuda.synchronize(); return s.elapsed_time(e)/n
for M,N,K in [(16384,768,768),(16384,3072,768),(16384,768,3072),(16384,2304,768),(4096,768,768),(128,768,768),(128,3072,768)]:
    x=torch.randn(M,K,device='cuda',dtype=torch.float16); w=torch.randn(N,K,device='cuda',dtype=torch.float16); b=torch.randn(N,device='cuda',dtype=torch.float16)
    ms=t(lambda: F.linear(x,w,b)); print(f"torch linear {M}x{N}x{K}: {ms*1e3:.1f} us, {2*M*N*K/ms/1e9:.0f} TFLOP/s")
x=torch.randn(16384,3072,device='cuda',dtype=torch.float16)
ms=t(lambda: F.gelu(x)); print(f"torch gelu 16384x3072: {ms*1e3:.1f} us")
for B,S in [(32,512),(128,128),(1,128)]:
    q=torch.randn(B,12,S,64,device='cuda',dtype=torch.float16); k=torch.randn_like(q); v=torch.randn_like(q)
    ms=t(lambda: F.scaled_dot_product_attention(q,k,v)); print(f"torch sdpa {B}x12x{S}x64: {ms*1e3:.1f} us, {4*B*12*S*S*64/ms/1e9:.0f} TFLOP/s")
a=torch.randn(8192,8192,device='cuda',dtype=torch.bfloat16)
ms=t(lambda: a@a, 10); print(f"bf16 8192^3: {2*8192**3/ms/1e9:.0f} TFLOP/s")
PY
