"""Detector v2 design by grouped cross-validation on ../shared/data (1,132 images).

Scores every image out of fold under three fold schemes (source-grouped 5-fold, leave-generators-out in 5 groups,
leave-family-out) for two branches (semantic: frozen EfficientNet-Lite2 features + linear probe; low-level: the
residual tile network trained from scratch), on four copies of each held-out image: as stored, size-matched (short
side 256, JPEG q90), native 256 px centre crop re-encoded JPEG q90, and as a social network serves it (long side
<= 1080, 4:5 crop on every other image, JPEG q80). Writes the out-of-fold logits to ``oof.npz``; ``analyse.py``
turns them into the tables.

    .venv/bin/python experiments/2026-12-05-detector-v2/cv.py --cache /tmp/v2cache
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from sentry_image.data import degrade
from sentry_image.data.manifest import read_manifest
from sentry_image.data.preprocess import preprocess
from sentry_image.imaging import load_image
from sentry_image.models.families import create_detector
from sentry_image.train.lowlevel import LowLevelTrainConfig, tile_pool, train_lowlevel

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT.parent / "shared" / "data" / "manifest.csv"
CONDITIONS = ("original", "size_matched", "native_crop", "social")
SEM_AUG = degrade.AugmentConfig(p_jpeg=0.8, jpeg_quality=[60, 100], p_resize=0.6, scale=[0.35, 1.0], p_blur=0.1,
                                blur_sigma=[0.3, 1.2], p_noise=0.1, noise_sigma=[1.0, 4.0], views=4)


def condition(image: Image.Image, name: str, index: int) -> Image.Image:
    """One evaluation copy of an image (deterministic)."""
    if name == "original":
        return image
    if name == "size_matched":
        return degrade.jpeg(degrade.resize(image, short_side=256, resample=Image.Resampling.BICUBIC), 90)
    if name == "native_crop":
        w, h = image.size
        s = min(256, w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return degrade.jpeg(image.crop((left, top, left + s, top + s)), 90)
    if name == "social":
        out = image
        if max(out.size) > 1080:
            out = degrade.resize(out, 1080 / max(out.size), resample=Image.Resampling.BICUBIC)
        if index % 2:
            w, h = out.size
            if w / h > 0.8:
                nw = round(h * 0.8)
                out = out.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
            else:
                nh = round(w / 0.8)
                out = out.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))
        return degrade.jpeg(out, 80)
    raise ValueError(name)


def group_key(rel: str) -> str:
    """Source group for folds: the folder; the two big photo folders split into stable sub-groups (ImageNet
    samples by a hash of the class, DreamBooth by subject) so that a fold is not one folder of 500."""
    parts = rel.split("/")
    folder = parts[1]
    if folder == "imagenet-samples":
        return f"{folder}:{int(hashlib.sha256(parts[2].encode()).hexdigest(), 16) % 10}"
    if folder == "google-dreambooth":
        return f"{folder}:{parts[2].rsplit('_', 1)[0]}"
    return folder


def folds(rows: list, scheme: str) -> list[np.ndarray]:
    """Test masks, one per fold; every image is in exactly one test fold."""
    n = len(rows)
    groups = [group_key(r.rel_path) for r in rows]
    real_groups = sorted({g for g, r in zip(groups, rows, strict=True) if int(r.label) == 0},
                         key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    real_fold = {g: i for i, g in enumerate(real_groups)}
    out = []
    if scheme == "grouped":
        k = 5
        ai_groups = sorted({g for g, r in zip(groups, rows, strict=True) if int(r.label) == 1},
                           key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        ai_fold = {g: i % k for i, g in enumerate(ai_groups)}
        for f in range(k):
            out.append(np.array([(ai_fold[g] if int(r.label) else real_fold[g] % k) == f
                                 for g, r in zip(groups, rows, strict=True)]))
    elif scheme == "generator":
        k = 5
        gens = sorted({r.generator for r in rows if int(r.label)}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
        gen_fold = {g: i % k for i, g in enumerate(gens)}
        for f in range(k):
            out.append(np.array([(gen_fold[r.generator] if int(r.label) else real_fold[g] % k) == f
                                 for g, r in zip(groups, rows, strict=True)]))
    elif scheme == "family":
        fams = ["diffusion", "gan", "autoregressive"]
        for f, fam in enumerate(fams):
            out.append(np.array([((r.family if r.family in fams else "diffusion") == fam) if int(r.label)
                                 else real_fold[g] % 3 == f for g, r in zip(groups, rows, strict=True)]))
    else:
        raise ValueError(scheme)
    assert np.all(np.sum(out, axis=0) == 1), scheme
    assert n == len(out[0])
    return out


def semantic_features(rows: list, cache: Path) -> dict[str, np.ndarray]:
    path = cache / "semantic.npz"
    if path.is_file():
        return dict(np.load(path))
    model = create_detector("efficientnet_lite2_probe")
    model.load_pretrained("package")
    model.eval()
    train, conds = [], {c: [] for c in CONDITIONS}
    t0 = time.time()
    with torch.no_grad():
        for i, row in enumerate(rows):
            image = load_image(row.path).rgb
            rng = random.Random(f"0:{row.rel_path}")
            views = [image, ImageOps.mirror(image)] + [degrade.augment(image, rng, SEM_AUG) for _ in range(4)]
            for c in CONDITIONS:
                views.append(condition(image, c, i))
            feats = [model.features(torch.from_numpy(preprocess(v, model.preprocess_cfg))).mean(0).numpy()
                     for v in views]
            train.append(np.stack(feats[:6]))
            for c, f in zip(CONDITIONS, feats[6:], strict=True):
                conds[c].append(f)
            if i % 100 == 0:
                print(f"semantic {i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    out = {"train": np.stack(train), **{c: np.stack(v) for c, v in conds.items()}}
    np.savez(path, **out)
    return out


def lowlevel_tiles(rows: list, cache: Path, cfg: LowLevelTrainConfig) -> dict[str, np.ndarray]:
    path = cache / "lowlevel.npz"
    if path.is_file():
        return dict(np.load(path))
    model = create_detector("lowlevel_residual")
    pre = model.preprocess_cfg
    pool, conds = [], {c: [] for c in CONDITIONS}
    t0 = time.time()
    for i, row in enumerate(rows):
        image = load_image(row.path).rgb
        pool.append(tile_pool(image, cfg, random.Random(f"0:{row.rel_path}")))
        for c in CONDITIONS:
            x = preprocess(condition(image, c, i), pre)  # [16, 3, 64, 64] float in [0, 1]
            conds[c].append(np.round(x * 255).astype(np.uint8))
        if i % 100 == 0:
            print(f"tiles {i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    out = {"pool": np.stack(pool), **{c: np.stack(v) for c, v in conds.items()}}
    np.savez(path, **out)
    return out


def fit_semantic(train_feats: np.ndarray, labels: np.ndarray) -> object:
    from sentry_image.train.probe import fit_head
    model = create_detector("efficientnet_lite2_probe")
    x = torch.from_numpy(train_feats.reshape(-1, train_feats.shape[-1])).float()
    y = torch.from_numpy(np.repeat(labels, train_feats.shape[1])).float()
    fit_head(model, x, y, weight_decay=0.2, max_iter=200)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=Path("/tmp/v2cache"))
    ap.add_argument("--schemes", default="grouped,generator,family")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rows = read_manifest(MANIFEST)
    labels = np.array([int(r.label) for r in rows])
    cfg = LowLevelTrainConfig(epochs=args.epochs)
    sem = semantic_features(rows, args.cache)
    low = lowlevel_tiles(rows, args.cache, cfg)
    result: dict[str, np.ndarray] = {"labels": labels}
    for scheme in args.schemes.split(","):
        fold_masks = folds(rows, scheme)
        result[f"{scheme}:fold"] = np.argmax(np.stack(fold_masks), axis=0)
        for c in CONDITIONS:
            result[f"{scheme}:semantic:{c}"] = np.zeros(len(rows))
            result[f"{scheme}:lowlevel:{c}"] = np.zeros((len(rows), low[c].shape[1]))
        for f, test in enumerate(fold_masks):
            t0 = time.time()
            train = ~test
            probe = fit_semantic(sem["train"][train], labels[train])
            with torch.no_grad():
                for c in CONDITIONS:
                    result[f"{scheme}:semantic:{c}"][test] = probe.classify(torch.from_numpy(sem[c][test])).numpy()
            net = train_lowlevel(low["pool"][train], labels[train], cfg, seed=f)
            for c in CONDITIONS:
                tiles = low[c][test]
                x = torch.from_numpy(tiles.reshape(-1, *tiles.shape[2:]).astype(np.float32) / 255.0)
                with torch.no_grad():
                    out = torch.cat([net(b) for b in x.split(512)]).numpy()
                result[f"{scheme}:lowlevel:{c}"][test] = out.reshape(tiles.shape[0], tiles.shape[1])
            print(f"{scheme} fold {f}: {test.sum()} test images, {time.time() - t0:.0f}s", flush=True)
            np.savez(args.cache / "oof.npz", **result)
    np.savez(Path(__file__).with_name("oof.npz"), **result)


if __name__ == "__main__":
    main()
