"""The kiosk's per-frame chain in Python on ONNX Runtime's own API: the yardstick for the Rust
chain (`kiosk bench`). Run by scripts/bench-vs-ort-python.sh, which sets up the venv.

Same models, same photos, same steps and constants as `vision` (MODELS.md): photos letterboxed
into 640x480 (grey 128, centred), YuNet on the whole frame (score 0.6, NMS 0.3), the largest
face aligned by a least-squares similarity to the reid-0095 template (bilinear warp, border 0),
embedded and L2-normalised, both MiniFASNets on their crops of the adapted box. One intra-op
and one inter-op thread, spinning off, all graph optimisations: what `vision::runtime` sets.
Decoding the file is left out on both sides (OpenCV's decoder is not ours).

Prints JSON: per stage, the samples' p50/p99/mean in ms. With --verify it instead embeds the
pairs of pairs.csv with a given embedder file (f32 or int8) and prints AUC, FNMR and FMR at the
threshold, the figures `kiosk eval verify` gives.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

TEMPLATE = np.array(
    [
        [0.31556875, 0.4615741],
        [0.6826229, 0.4615741],
        [0.5002625, 0.6405054],
        [0.3494719, 0.824692],
        [0.6534365, 0.824692],
    ],
    dtype=np.float32,
) * 128.0
SCORE_THRESHOLD, NMS_IOU = 0.6, 0.3


def session(path, opt_level):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = opt_level
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def letterbox(img, w=640, h=480):
    ih, iw = img.shape[:2]
    s = min(w / iw, h / ih, 1.0)
    sw, sh = max(1, min(w, round(iw * s))), max(1, min(h, round(ih * s)))
    small = img if (sw, sh) == (iw, ih) else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((h, w, 3), 128, np.uint8)
    x, y = (w - sw) // 2, (h - sh) // 2
    canvas[y : y + sh, x : x + sw] = small
    return canvas


def blob(bgr):
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return 0.0 if union <= 0 else inter / union


def detect(sess, frame):
    h, w = frame.shape[:2]
    s = min(640 / max(w, h), 1.0)
    rw, rh = max(1, round(w * s)), max(1, round(h * s))
    pw, ph = -(-rw // 32) * 32, -(-rh // 32) * 32
    img = frame if (rw, rh) == (w, h) else cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)
    if (pw, ph) != (rw, rh):
        img = cv2.copyMakeBorder(img, 0, ph - rh, 0, pw - rw, cv2.BORDER_CONSTANT, value=0)
    out = sess.run(None, {sess.get_inputs()[0].name: blob(img)})
    names = [o.name for o in sess.get_outputs()]
    o = dict(zip(names, out))
    sx, sy = w / rw, h / rh
    faces = []
    for st in (8, 16, 32):
        cols, rows = pw // st, ph // st
        cls = o[f"cls_{st}"].reshape(-1)
        obj = o[f"obj_{st}"].reshape(-1)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        idx = np.nonzero(score >= SCORE_THRESHOLD)[0]
        if idx.size == 0:
            continue
        bbox = o[f"bbox_{st}"].reshape(-1, 4)[idx]
        kps = o[f"kps_{st}"].reshape(-1, 10)[idx]
        c, r = (idx % cols).astype(np.float32), (idx // cols).astype(np.float32)
        cx, cy = (c + bbox[:, 0]) * st, (r + bbox[:, 1]) * st
        bw, bh = np.exp(bbox[:, 2]) * st, np.exp(bbox[:, 3]) * st
        lx = (kps[:, 0::2] + c[:, None]) * st * sx
        ly = (kps[:, 1::2] + r[:, None]) * st * sy
        for i in range(idx.size):
            faces.append(
                (
                    [(cx[i] - bw[i] / 2) * sx, (cy[i] - bh[i] / 2) * sy, bw[i] * sx, bh[i] * sy],
                    np.stack([lx[i], ly[i]], axis=1),
                    float(score[idx[i]]),
                )
            )
    faces.sort(key=lambda f: -f[2])
    keep = []
    for f in faces:
        if all(iou(k[0], f[0]) <= NMS_IOU for k in keep):
            keep.append(f)
    return keep


def similarity(src, dst):
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    den = max(float((s * s).sum()), 1e-12)
    a = float((s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum()) / den
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / den
    return np.array(
        [[a, -b, md[0] - (a * ms[0] - b * ms[1])], [b, a, md[1] - (b * ms[0] + a * ms[1])]],
        dtype=np.float32,
    )


def align(frame, landmarks):
    m = similarity(landmarks.astype(np.float32), TEMPLATE)
    face = cv2.warpAffine(frame, m, (128, 128), flags=cv2.INTER_LINEAR, borderValue=0)
    return blob(face)


def embed(sess, aligned):
    e = sess.run(None, {sess.get_inputs()[0].name: aligned})[0].reshape(-1)
    return e / max(float(np.linalg.norm(e)), 1e-12)


def crop_box(fw, fh, bbox, scale):
    x, y, bw, bh = bbox
    scale = min(scale, (fh - 1) / bh, (fw - 1) / bw)
    nw, nh = bw * scale, bh * scale
    cx, cy = x + bw / 2, y + bh / 2
    l, t, r, b = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if l < 0:
        r -= l
        l = 0
    if t < 0:
        b -= t
        t = 0
    if r > fw - 1:
        l -= r - fw + 1
        r = fw - 1
    if b > fh - 1:
        t -= b - fh + 1
        b = fh - 1
    l, t = max(int(l), 0), max(int(t), 0)
    r, b = min(max(int(r), l), fw - 1), min(max(int(b), t), fh - 1)
    return l, t, r, b


def liveness(sessions, frame, bbox):
    x, y, w, h = bbox
    side = (w + h) / 2
    cx, cy = x + w / 2, y + h / 2 + 0.08 * h
    adapted = (cx - side / 2, cy - side / 2, side, side)
    fh, fw = frame.shape[:2]
    total = 0.0
    for sess, scale in sessions:
        l, t, r, b = crop_box(fw, fh, adapted, scale)
        crop = cv2.resize(frame[t : b + 1, l : r + 1], (80, 80), interpolation=cv2.INTER_LINEAR)
        logits = sess.run(None, {sess.get_inputs()[0].name: blob(crop)})[0].reshape(-1)
        e = np.exp(logits - logits.max())
        total += float(e[1] / e.sum())
    return total / len(sessions)


def images(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.lower().endswith((".jpg", ".jpeg", ".png")):
                out.append(os.path.join(dirpath, f))
    return sorted(out)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def load_models(models, embedder, opt_level):
    return (
        session(os.path.join(models, "face_detection_yunet_2023mar_dynamic.onnx"), opt_level),
        session(embedder or os.path.join(models, "face_reidentification_retail_0095.onnx"), opt_level),
        [
            (session(os.path.join(models, "2.7_80x80_MiniFASNetV2.onnx"), opt_level), 2.7),
            (session(os.path.join(models, "4_0_0_80x80_MiniFASNetV1SE.onnx"), opt_level), 4.0),
        ],
    )


def bench(args, opt_level):
    det, emb, live = load_models(args.models, args.embedder, opt_level)
    frames = [letterbox(cv2.imread(p, cv2.IMREAD_COLOR)) for p in images(args.images)]
    for f in frames[:3]:
        faces = detect(det, f)
        if faces:
            embed(emb, align(f, faces[0][1]))
            liveness(live, f, faces[0][0])
    stages = {k: [] for k in ("detect", "align", "liveness", "embed", "chain")}
    with_face = 0
    for rnd in range(args.rounds):
        for f in frames:
            t0 = time.perf_counter()
            faces = detect(det, f)
            t1 = time.perf_counter()
            # As `kiosk bench`: a frame without a face counts for detection only.
            stages["detect"].append((t1 - t0) * 1000.0)
            if not faces:
                continue
            with_face += rnd == 0
            face = max(faces, key=lambda x: x[0][2] * x[0][3])
            aligned = align(f, face[1])
            t2 = time.perf_counter()
            liveness(live, f, face[0])
            t3 = time.perf_counter()
            embed(emb, aligned)
            t4 = time.perf_counter()
            for k, a, b in (("align", t1, t2), ("liveness", t2, t3), ("embed", t3, t4), ("chain", t0, t4)):
                stages[k].append((b - a) * 1000.0)
    return {
        "frames": len(frames),
        "frames_with_face": with_face,
        "ort_version": ort.__version__,
        "stages": {
            k: {"samples": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99), "mean_ms": statistics.fmean(v) if v else float("nan")}
            for k, v in stages.items()
        },
    }


def auc(gen, imp):
    # Mann-Whitney U: the chance a genuine pair outscores an impostor pair, ties count half.
    scores = sorted([(s, 1) for s in gen] + [(s, 0) for s in imp])
    rank_sum, i = 0.0, 0
    while i < len(scores):
        j = i
        while j < len(scores) and scores[j][0] == scores[i][0]:
            j += 1
        mid = (i + j + 1) / 2
        rank_sum += mid * sum(1 for k in range(i, j) if scores[k][1])
        i = j
    return (rank_sum - len(gen) * (len(gen) + 1) / 2) / (len(gen) * len(imp))


def verify(args, opt_level):
    det, emb, _ = load_models(args.models, args.embedder, opt_level)
    import csv

    rows = list(csv.DictReader(open(os.path.join(args.images, "pairs.csv"))))
    cache = {}

    def embedding(rel):
        if rel not in cache:
            img = cv2.imread(os.path.join(args.images, rel), cv2.IMREAD_COLOR)
            faces = detect(det, img)
            face = max(faces, key=lambda x: x[0][2] * x[0][3]) if faces else None
            cache[rel] = None if face is None else embed(emb, align(img, face[1]))
        return cache[rel]

    gen, imp = [], []
    for r in rows:
        a, b = embedding(r["image_a"]), embedding(r["image_b"])
        if a is None or b is None:
            continue
        (gen if r["same"] == "1" else imp).append(float(a @ b))
    thr = args.threshold
    return {
        "embedder": args.embedder or "f32",
        "genuine": len(gen),
        "impostor": len(imp),
        "auc": auc(gen, imp),
        "fnmr_at_threshold": sum(s < thr for s in gen) / len(gen),
        "fmr_at_threshold": sum(s >= thr for s in imp) / len(imp),
        "genuine_min": min(gen),
        "impostor_max": max(imp),
        "threshold": thr,
        "embeddings": {k: (None if v is None else v.tolist()) for k, v in cache.items()} if args.dump else None,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--embedder", help="another embedder file (e.g. an int8 copy)")
    p.add_argument("--opt-level", default="all", choices=["disable", "basic", "extended", "all"])
    p.add_argument("--verify", action="store_true")
    p.add_argument("--threshold", type=float, default=0.36)
    p.add_argument("--dump", action="store_true")
    args = p.parse_args()
    level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[args.opt_level]
    cv2.setNumThreads(1)
    out = verify(args, level) if args.verify else bench(args, level)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
