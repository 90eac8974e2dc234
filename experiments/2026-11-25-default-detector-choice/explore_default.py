"""Grouped cross-validation of candidate designs for the default detector (the evidence behind its choice).

    python experiments/2026-11-25-default-detector-choice/explore_default.py --manifest ../shared/data/manifest.csv \
        --out experiments/2026-11-25-default-detector-choice/explore_default.json

For every image: the decoded pixels, a format-matched copy (512 px short side, JPEG q90) and ``--aug`` random
degradations (the training augmentation, identical for both classes). Candidate features per view:
EfficientNet-Lite0/2 pooled embeddings and intermediate-stage statistics at 256 px (``l2a``) and 512 px
(``l2b``) short side, and hand-made forensic statistics (high-pass / Laplacian / NPR residual moments,
cross-channel residual correlation, radial spectrum of the residual, upsampling peaks) at 256 px, 512 px and
native resolution. Each candidate is a standardised logistic regression trained on the augmented views of the
training folds and scored on the decoded and the format-matched views of the held-out folds:
- ``folder_cv``: 5-fold stratified group K-fold, group = source folder (3 shuffles, mean AUC);
- ``leave_generator_out``: groups merge folder and generator, so no generator is in train and test;
- ``leave_family_out``: train without one AI family (and half of the real folders), test on it.
A shortcut baseline (file format, size, bytes per pixel from the manifest; no pixels) shows how far the
data's shortcuts alone go. Takes about 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import random
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sentry_image.data import degrade
from sentry_image.data.manifest import ManifestRow, read_manifest
from sentry_image.data.preprocess import PreprocessConfig, preprocess
from sentry_image.evaluate.metrics import auc
from sentry_image.imaging import load_image
from sentry_image.models.efficientnet_lite import LiteDetector, load_imagenet_weights

# the augmentation of the recorded run, every field spelled out (the shared schema's defaults have changed since)
AUG = degrade.AugmentConfig(p_jpeg=0.8, jpeg_quality=[60, 100], p_resize=0.6, scale=[0.35, 1.0], p_blur=0.1,
                            blur_sigma=[0.3, 1.2], p_noise=0.1, noise_sigma=[1.0, 4.0])
CANDIDATES = [["fa"], ["fb"], ["fc"], ["fa", "fb", "fc"], ["l0a_head"], ["l2a_head"], ["l2a_mid"], ["l2b_head"],
              ["l2b_mid"], ["l2a_head", "l2a_mid"], ["l2a_head", "fa", "fc"], ["l2a_head", "l2a_mid", "l2b_mid", "fb"],
              ["l2a_head", "l2a_mid", "fa", "fb", "fc"]]


def forensic(x: torch.Tensor) -> torch.Tensor:
    """Low-level statistics of ``[B, 3, N, N]`` pixels in [0, 1]: residual moments, correlations, spectrum."""
    b, _, n, _ = x.shape
    pad = F.pad(x, (1, 1, 1, 1), mode="replicate")
    hp = x - F.avg_pool2d(pad, 3, stride=1)
    lap_k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    lap = F.conv2d(pad, lap_k, groups=3)
    npr = x - F.interpolate(x[:, :, ::2, ::2], scale_factor=2, mode="nearest")
    feats = []
    for r in (hp, lap, npr):
        v = r.flatten(2)
        sd = v.std(-1) + 1e-5
        kurt = ((v - v.mean(-1, keepdim=True)) ** 4).mean(-1) / sd**4
        c = v - v.mean(-1, keepdim=True)
        c = c / (c.norm(dim=-1, keepdim=True) + 1e-8)
        corr = torch.stack([(c[:, 0] * c[:, 1]).sum(-1), (c[:, 1] * c[:, 2]).sum(-1), (c[:, 0] * c[:, 2]).sum(-1)], -1)
        feats += [sd.log(), kurt.clamp(max=100).log(), corr]
    g = lap.mean(1)
    phase = torch.stack([g[:, i::2, j::2].pow(2).mean((-1, -2)) for i in range(2) for j in range(2)], -1)
    feats.append((phase / phase.mean(-1, keepdim=True)).log())
    win = torch.hann_window(n)
    power = torch.fft.fft2(hp.mean(1) * win.view(1, -1, 1) * win.view(1, 1, -1)).abs().pow(2) + 1e-10
    f = torch.fft.fftfreq(n)
    bins = torch.clamp((torch.sqrt(f.view(-1, 1) ** 2 + f.view(1, -1) ** 2) / 0.5 * 16).long(), max=15)
    radial = torch.stack([power[:, bins == k].mean(-1) for k in range(16)], -1)
    feats.append((radial / radial.sum(-1, keepdim=True)).log())
    prof = 0.5 * (power.log().mean(1) + power.log().mean(2))
    peaks = [prof[:, n // k] - torch.cat([prof[:, n // k - 3:n // k - 1], prof[:, n // k + 2:n // k + 4]], -1).mean(-1)
             for k in (2, 4, 8)]
    feats.append(torch.stack(peaks, -1))
    return torch.cat([t.reshape(b, -1) for t in feats], -1)


def _pixels(view: Image.Image, short: int | None, crop: int) -> torch.Tensor:
    cfg = PreprocessConfig(crop_size=crop, resize_short=short, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return torch.from_numpy(preprocess(view, cfg))


@torch.inference_mode()
def view_features(view: Image.Image, lite2: LiteDetector, lite0: LiteDetector) -> dict[str, np.ndarray]:
    out: dict[str, torch.Tensor] = {}
    mean = torch.tensor(lite2.preprocess_cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(lite2.preprocess_cfg.std).view(1, 3, 1, 1)
    xa, xb, xc = _pixels(view, 256, 224), _pixels(view, 512, 224), _pixels(view, None, 256)
    for tag, model, x in (("l2a", lite2, xa), ("l2b", lite2, xb), ("l0a", lite0, xa)):
        f = model.features((x - mean) / std)[0]
        out[f"{tag}_head"], out[f"{tag}_mid"] = f[:1280], f[1280:]
    out.update(fa=forensic(xa)[0], fb=forensic(xb)[0], fc=forensic(xc)[0])
    return {k: v.numpy().astype(np.float32) for k, v in out.items()}


def extract(rows: Sequence[ManifestRow], n_aug: int) -> list[dict[str, dict[str, np.ndarray]]]:
    lite2, lite0 = LiteDetector("lite2").eval(), LiteDetector("lite0").eval()
    load_imagenet_weights(lite2)
    load_imagenet_weights(lite0)
    feats = []
    for i, row in enumerate(rows):
        image = load_image(row.path).rgb
        views = {"raw": image, "fm": degrade.format_matched(image)}
        for k in range(n_aug):
            views[f"aug{k}"] = degrade.augment(image, random.Random(1000 * i + k), AUG)
        feats.append({name: view_features(v, lite2, lite0) for name, v in views.items()})
    return feats


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", default="experiments/2026-11-25-default-detector-choice/explore_default.json")
    parser.add_argument("--aug", type=int, default=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = read_manifest(args.manifest)
    feats = extract(rows, args.aug)
    y = np.array([int(r.label) for r in rows])
    n = len(rows)
    folder = np.array([zlib.crc32(r.folder.encode()) for r in rows])
    lgo = _merged_groups([r.folder for r in rows], [r.generator if r.label else "real:" + r.folder for r in rows])

    def matrix(keys: list[str], view: str, idx: Sequence[int]) -> np.ndarray:
        return np.stack([np.concatenate([feats[i][view][k] for k in keys]) for i in idx])

    def shortcut(idx: Sequence[int]) -> np.ndarray:
        def f(r: ManifestRow) -> list[float]:
            w, h, nbytes = (float(r.fields[k]) for k in ("width", "height", "bytes"))
            fmt = r.fields.get("format", "")
            return [np.log(w), np.log(h), float(w == h), np.log(nbytes / (w * h)),
                    *[float(fmt == x) for x in ("PNG", "JPEG", "TIFF", "HEIF", "AVIF", "WEBP")]]
        return np.array([f(rows[i]) for i in idx])

    def fit(keys: list[str] | None, tr: Sequence[int]) -> Any:
        if keys is None:
            xtr, ytr = shortcut(tr), y[tr]
        else:
            xtr = np.concatenate([matrix(keys, f"aug{k}", tr) for k in range(args.aug)])
            ytr = np.tile(y[tr], args.aug)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.005 if keys else 1.0, max_iter=3000,
                                                                 class_weight="balanced"))
        return clf.fit(xtr, ytr)

    def cv(keys: list[str] | None, groups: np.ndarray, views: Sequence[str]) -> dict[str, float]:
        res: dict[str, list[float]] = {v: [] for v in views}
        for seed in range(3):
            pred = {v: np.zeros(n) for v in views}
            for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(np.zeros(n), y, groups):
                clf = fit(keys, tr)
                for v in views:
                    pred[v][te] = clf.decision_function(shortcut(te) if keys is None else matrix(keys, v, te))
            for v in views:
                res[v].append(auc(y, pred[v]))
        return {v: round(float(np.mean(r)), 3) for v, r in res.items()}

    def leave_family_out(keys: list[str]) -> dict[str, float]:
        real_folders = sorted({r.folder for r in rows if not r.label})
        out = {}
        for fam in ("gan", "autoregressive", "diffusion"):
            scores = []
            for seed in range(3):
                held = set(np.random.RandomState(seed).choice(real_folders, len(real_folders) // 2, replace=False))
                is_test = [(r.label and r.family == fam) or (not r.label and r.folder in held) for r in rows]
                is_train = [(r.label and r.family != fam) or (not r.label and r.folder not in held) for r in rows]
                tr, te = np.flatnonzero(is_train), np.flatnonzero(is_test)
                scores.append(auc(y[te], fit(keys, tr).decision_function(matrix(keys, "raw", te))))
            out[fam] = round(float(np.mean(scores)), 3)
        return out

    table: dict[str, Any] = {"shortcut_baseline": {"folder_cv": cv(None, folder, ("raw",)),
                                                   "leave_generator_out": cv(None, lgo, ("raw",))}}
    for keys in CANDIDATES:
        table["+".join(keys)] = {"folder_cv": cv(keys, folder, ("raw", "fm")),
                                 "leave_generator_out": cv(keys, lgo, ("raw",)),
                                 "leave_family_out": leave_family_out(keys)}
        print("+".join(keys), table["+".join(keys)], flush=True)
    with open(args.out, "w") as fh:
        json.dump(table, fh, indent=2)


def _merged_groups(*keys: Sequence[str]) -> np.ndarray:
    """Union of groupings: rows sharing any key end in one group (union-find)."""
    n = len(keys[0])
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key in keys:
        first: dict[str, int] = {}
        for i, k in enumerate(key):
            parent[find(i)] = find(first.setdefault(k, i))
    return np.array([find(i) for i in range(n)])


if __name__ == "__main__":
    main()
