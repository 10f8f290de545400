#!/usr/bin/env bash
# The per-frame chain, ours (`kiosk bench`) against ONNX Runtime's own Python API on the same
# models, photos and steps (scripts/bench_ort_python.py), alternating sides in one run; prints
# one table of p50/p99 per stage. A bench, not a test: CI and scripts/test.sh never run it.
#
# Installs, under target/: a venv with onnxruntime at the version of .local/onnxruntime's
# library (the Rust side's), OpenCV (headless) and numpy, from PyPI.
#
#   scripts/bench-vs-ort-python.sh            # ROUNDS=3 passes over the photos, REPEATS=2
#   KIOSK=/tmp/kiosk-main scripts/bench-vs-ort-python.sh   # that binary, not this tree's
#   INT8=1 scripts/bench-vs-ort-python.sh     # also: the embedder quantised to int8
#                                             # (onnxruntime.quantization, dynamic), its
#                                             # accuracy on the shared pairs and its speed
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
images=${FACE_DATA_DIR:-$root/../shared/data/faces}
models=${MODELS_DIR:-$root/models}
rounds=${ROUNDS:-3}
repeats=${REPEATS:-2}
out=$root/target/ort-python
venv=$root/target/ort-python-venv
mkdir -p "$out"

# The Rust side's ONNX Runtime version, from its library's file name (libonnxruntime.so.1.32.0).
lib=$(ls "$root"/.local/onnxruntime/libonnxruntime.so.1.*.* 2>/dev/null | head -1 || true)
[ -n "$lib" ] || { echo "no .local/onnxruntime/libonnxruntime.so.1.x.y: run scripts/setup.sh" >&2; exit 1; }
version=${lib##*libonnxruntime.so.}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import onnxruntime as o, sys; sys.exit(o.__version__ != '$version')" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "onnxruntime==$version" opencv-python-headless numpy
fi
py=$venv/bin/python

# KIOSK=path: a kiosk binary built elsewhere (another branch, for a before/after in the same
# conditions) instead of this tree's.
if [ -n "${KIOSK:-}" ]; then
    kiosk=$KIOSK
else
    cargo build -q -p kiosk-cli
    kiosk=${CARGO_TARGET_DIR:-$root/target}/debug/kiosk
fi

for i in $(seq 1 "$repeats"); do
    echo "run $i/$repeats: ours" >&2
    "$kiosk" bench --images "$images" --models-dir "$models" --rounds "$rounds" \
        --gallery 1000 --queries 10 --json 2>/dev/null >"$out/ours-$i.json"
    echo "run $i/$repeats: onnxruntime $version, Python" >&2
    "$py" scripts/bench_ort_python.py --models "$models" --images "$images" --rounds "$rounds" \
        >"$out/python-$i.json"
done

if [ "${INT8:-0}" = 1 ]; then
    # Dynamic quantisation (weights int8, activations quantised at run time), into target/
    # only: model files are never committed.
    "$py" - "$models" "$out" <<'PY'
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
models, out = sys.argv[1], sys.argv[2]
quant_pre_process(f"{models}/face_reidentification_retail_0095.onnx", f"{out}/reid-pre.onnx", skip_symbolic_shape=True)
quantize_dynamic(f"{out}/reid-pre.onnx", f"{out}/reid-int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
PY
    "$py" scripts/bench_ort_python.py --models "$models" --images "$images" --verify >"$out/verify-f32.json"
    "$py" scripts/bench_ort_python.py --models "$models" --images "$images" --verify \
        --embedder "$out/reid-int8.onnx" >"$out/verify-int8.json"
    "$py" scripts/bench_ort_python.py --models "$models" --images "$images" --rounds "$rounds" \
        --embedder "$out/reid-int8.onnx" >"$out/python-int8.json"
fi

"$py" - "$out" "$repeats" "${INT8:-0}" <<'PY'
import json, statistics, sys
out, repeats, int8 = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ours = [json.load(open(f"{out}/ours-{i}.json")) for i in range(1, repeats + 1)]
pyth = [json.load(open(f"{out}/python-{i}.json")) for i in range(1, repeats + 1)]
pairs = [
    ("detect (640x480)", "detect", "detect"),
    ("align", "align", "align"),
    ("liveness (2 models)", "liveness (2 models)", "liveness"),
    ("embed (1 face)", "embed (1 face)", "embed"),
    ("chain (no quality)", "chain without quality", "chain"),
]
def ours_stage(run, name):
    return next(s for s in run["stages"] if s["stage"] == name)
def med(xs):
    return statistics.median(xs)
print(f"{len(ours)} runs a side, alternating; median over runs of each run's percentile")
print(f"frames with a face: ours {ours[0]['frames_with_face']}, Python {pyth[0]['frames_with_face']}; onnxruntime {pyth[0]['ort_version']}")
print(f"{'stage':<22} {'ours p50':>9} {'py p50':>9} {'faster':>7} {'ours p99':>9} {'py p99':>9} {'faster':>7}")
for label, o, p in pairs:
    o50 = med([ours_stage(r, o)["p50_ms"] for r in ours])
    o99 = med([ours_stage(r, o)["p99_ms"] for r in ours])
    p50 = med([r["stages"][p]["p50_ms"] for r in pyth])
    p99 = med([r["stages"][p]["p99_ms"] for r in pyth])
    print(f"{label:<22} {o50:>9.2f} {p50:>9.2f} {100 * (p50 - o50) / p50:>6.1f}% {o99:>9.2f} {p99:>9.2f} {100 * (p99 - o99) / p99:>6.1f}%")
print("faster: how much less time ours takes than Python's, in % of Python's")
if int8:
    f, q = (json.load(open(f"{out}/verify-{k}.json")) for k in ("f32", "int8"))
    t = json.load(open(f"{out}/python-int8.json"))["stages"]["embed"]["p50_ms"]
    base = med([r["stages"]["embed"]["p50_ms"] for r in pyth])
    print(f"\nembedder on the shared pairs ({f['genuine']} genuine, {f['impostor']} impostor), threshold {f['threshold']}:")
    print(f"{'embedder':<10} {'AUC':>7} {'FNMR':>7} {'FMR':>7} {'gen min':>8} {'imp max':>8} {'embed p50':>10}")
    for name, v, ms in (("f32", f, base), ("int8 dyn", q, t)):
        print(f"{name:<10} {v['auc']:>7.4f} {v['fnmr_at_threshold']:>7.3f} {v['fmr_at_threshold']:>7.3f} {v['genuine_min']:>8.3f} {v['impostor_max']:>8.3f} {ms:>10.2f}")
PY
