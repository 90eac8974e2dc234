"""Reader of the Stable Diffusion invisible watermark (the ``dwtDct`` scheme of ``invisible-watermark`` 0.2.0).

The scheme, as the library implements it (``imwatermark/maxDct.py``), works on the U plane of OpenCV's YUV:
one level of a Haar DWT, then the approximation band is cut into 4x4 blocks taken row-major; in each block the
coefficient of largest magnitude (the block's first element excluded) carries one bit, quantised so that
``|v| mod 36`` falls in the upper half for a 1 and the lower half for a 0. Bits repeat cyclically over the blocks
and are decided by majority. Despite its name, the library's matrix variant applies no DCT to the block.

We re-implement the decoder with numpy and PyWavelets only (the library pulls in torch and GUI OpenCV). The
embedders differ in channel order and pixel type, which changes what the decoder must be given:

* CompVis / Stability SD 1.x and 2.x scripts flip RGB to BGR and embed into uint8 pixels: decode BGR/u8.
* diffusers (SDXL) embeds into the RGB float array without a flip: decode RGB (u8 and f32 both work).
* Stability ``generative-models`` (SDXL) embeds into a BGR float array: decode BGR/f32 (OpenCV's float YUV
  uses a chroma offset of 0.5 instead of 128, which moves every coefficient modulo 36).

A claim needs a high bit agreement with a known payload and a decoded pattern that is not near-constant, so an
ordinary photo (whose bits agree with any payload about half the time) never triggers it. A mark that JPEG
compression weakened to between chance and the threshold is reported as info (``Decode.partial``); one it
destroyed reads as nothing: absence of the mark never means "real". Where no mark can
survive (``mark_can_survive``) the decode is skipped altogether.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pywt
from PIL import Image, ImageMode, JpegImagePlugin

from sentry_image.types import Hint, Signal, Strength

logger = logging.getLogger(__name__)

SCALE = 36.0
BLOCK = 4
MIN_PIXELS = 256 * 256  # the library refuses smaller images: no mark can have been embedded
MAX_DECODE_PIXELS = 1 << 20  # rows beyond this many pixels add votes, not information: bounds cost on huge photos
# Pixels converted per pass (whole 8-row block rows): planes this small stay in the CPU cache, which makes the
# decode 2-3x faster than converting the whole image at once, with bit-identical results.
_STRIP_PIXELS = 1 << 15


# JPEG chroma subsampling (Pillow's ``get_sampling``: 2 is 4:2:0) -> lowest IJG quality whose files are decoded.
# Measured with the library's own embedder (SD 1.x/2.x ``compvis``, SDXL ``diffusers`` and ``sgm`` recipes) on 128
# images (20 synthetic, 108 real and generated ones, 512-1024 px) saved by Pillow, 10,656 encodes in all:
# * 4:2:0: no claim in 844 encodes at q20-60 (24 of them on the image that kept an SDXL mark down to q62), where
#   the best agreement stayed under the threshold (at most 37/48 SDXL bits); rare claims at q62-89 (17 of 3,660,
#   all SDXL marks), then 258 of 784 at q90-100. The floor sits 12 below the lowest claim;
# * 4:4:4 and 4:2:2 keep marks at almost any quality (claims down to q10 and q45): always decoded, as are lossy
#   WebP (0 of 496 at q50-75, 32 of 336 at q80-85; its quality is not in the file), HEIF/AVIF and lossless files.
JPEG_MIN_QUALITY: dict[int, int] = {2: 50}


@dataclass(frozen=True)
class Payload:
    """A known watermark message and the minimum number of agreeing bits needed to claim it."""

    name: str
    bits: tuple[int, ...]
    min_agree: int
    #: From here up to ``min_agree`` the mark is reported as partial (info): above every real photo measured.
    min_partial: int = 0


def _bits_of(data: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8)))


# Thresholds. On an unmarked image each bit agrees with a payload about half the time, so per decoding path the
# chance of reaching the threshold is a Binomial(n, 1/2) tail: 3e-8 for 100/136, 1.3e-6 for 29/32, 3e-5 for
# 38/48 (x4 paths). 100/136 keeps a mark weakened by a busy photo (114/136 measured) and rejects an unrecoverable
# one (82/136). For the short SDXL message 36/48 (suggested elsewhere) would be 3.6e-4 per path, too loose for
# evidence that decides a verdict; on 195 camera photos the best SDXL agreement was 31/48 (33/48 on one clean
# 1024 px crop), and true marks read 48/48.
# Partial floors (90/136, 27/32, 37/48: chance tails 1.0e-4, 5.7e-5, 1.1e-4 per path) sit above the best
# agreement of 848 real photos of the shared data (85/136, 25/32, 34/48), so a partial report on a photo stays
# rare; it is info only and never decides a verdict.
PAYLOADS: tuple[Payload, ...] = (
    Payload('Stable Diffusion invisible watermark "StableDiffusionV1"', _bits_of(b"StableDiffusionV1"), 100, 90),
    Payload('Stable Diffusion 2 invisible watermark "SDV2"', _bits_of(b"SDV2"), 29, 27),
    Payload("SDXL invisible watermark 0xB3EC907BB19E", _bits_of(bytes.fromhex("B3EC907BB19E")), 38, 37),
)

PATHS = ("BGR", "BGR/f32", "RGB", "RGB/f32")
_HAAR_LO = float(pywt.Wavelet("haar").dec_lo[0])

# A decode whose ones-fraction is outside this band is a flat image, not a message.
_MIN_ONES_FRACTION = 0.1


@dataclass(frozen=True)
class Decode:
    """The best match of one payload: agreeing bits out of the payload length, and the path that read it."""

    payload: Payload
    agree: int
    path: str

    @property
    def claimed(self) -> bool:
        return self.agree >= self.payload.min_agree

    @property
    def partial(self) -> bool:
        """Between chance and the decision threshold, above anything real photos reach: a degraded mark."""
        return self.payload.min_partial <= self.agree < self.payload.min_agree and self.payload.min_partial > 0


def _u_planes(rgb: np.ndarray) -> np.ndarray:
    """OpenCV ``COLOR_BGR2YUV`` U planes of the four decoding paths, in the order of ``PATHS``.

    uint8 paths reproduce cv2's fixed-point arithmetic bit-exactly; float32 paths its float formula.
    """
    f32 = np.float32
    ri, gi, bi = (rgb[..., k].astype(np.int32) for k in range(3))
    rf, gf, bf = (x.astype(f32) for x in (ri, gi, bi))
    green_i, green_f = gi * 9617 + 8192, gf * f32(0.587)  # shared by both paths
    out = np.empty((len(PATHS), *rgb.shape[:2]), dtype=np.float64)
    # "BGR": file pixels flipped to BGR as the SD reference scripts do; "RGB": the RGB array handed to cv2 as if
    # it were BGR (diffusers), i.e. red and blue trade places. In-place steps in cv2's order of operations: the
    # integer ones are exact in any order; the float32 ones follow cv2's formula and stay within one float32 step of
    # cv2's result (OpenCV 5.1 rounds some pixels differently), which moves no block's bit in the tests' images.
    for k, (blue_i, red_i, blue_f, red_f) in enumerate(((bi, ri, bf, rf), (ri, bi, rf, bf))):
        y = red_i * 4899
        y += green_i
        y += blue_i * 1868
        y >>= 14  # cv2 fixed point, yuv_shift = 14
        np.subtract(blue_i, y, out=y)
        y *= 8061
        y += (128 << 14) + 8192
        y >>= 14
        np.clip(y, 0, 255, out=out[2 * k])
        yf = red_f * f32(0.299)
        yf += green_f
        yf += blue_f * f32(0.114)
        np.subtract(blue_f, yf, out=yf)
        yf *= f32(0.492)
        yf += f32(0.5)
        out[2 * k + 1] = yf
    return out


def haar_approx(planes: np.ndarray) -> np.ndarray:
    """Approximation band of a one-level ``pywt.dwt2(planes, "haar", axes=(-2, -1))``.

    Only this band is needed, and computing it alone is ~20x faster than ``pywt.dwt2``; the same products and
    sums in the same order (rows, then columns) keep it bit-exact, which matters because the decision
    ``|v| mod 36 > 18`` sits on exact half-integers for uint8 input.
    """
    c = _HAAR_LO
    rows = planes[..., 0::2, :] * c + planes[..., 1::2, :] * c
    return rows[..., 0::2] * c + rows[..., 1::2] * c


def _block_bits(u_planes: np.ndarray) -> np.ndarray:
    """Per-block bit of each plane (shape paths x blocks), blocks in the library's row-major order."""
    approx = haar_approx(u_planes)
    n, h, w = approx.shape
    rows, cols = h // BLOCK, w // BLOCK
    blocks = approx[:, : rows * BLOCK, : cols * BLOCK].reshape(n, rows, BLOCK, cols, BLOCK)
    mags = np.abs(blocks.transpose(0, 1, 3, 2, 4).reshape(n, rows * cols, BLOCK * BLOCK)[:, :, 1:])
    vals = mags.max(axis=2)  # the library takes the argmax's magnitude: the same value whichever maximum it picks
    return (np.mod(vals, SCALE) > 0.5 * SCALE).astype(np.float64)


def _majority(block_bits: np.ndarray, length: int) -> np.ndarray:
    """Average the votes of blocks ``k, k+length, ...`` for every bit position, as the library does."""
    idx = np.arange(block_bits.shape[1]) % length
    counts = np.bincount(idx, minlength=length)
    out = np.empty((block_bits.shape[0], length), dtype=np.uint8)
    for p in range(block_bits.shape[0]):
        avg = np.bincount(idx, weights=block_bits[p], minlength=length) / np.maximum(counts, 1)
        out[p] = avg * 255 > 127
    return out


def _image_bits(rgb: np.ndarray) -> np.ndarray:
    """``_block_bits(_u_planes(rgb))``, computed strip by strip (``_STRIP_PIXELS``) with the same result.

    Strips of whole block rows, joined in order, give the blocks in the library's row-major order.
    """
    step = max(2 * BLOCK, _STRIP_PIXELS // max(rgb.shape[1], 1) // (2 * BLOCK) * (2 * BLOCK))
    strips = range(0, max(rgb.shape[0], 1), step)
    return np.concatenate([_block_bits(_u_planes(rgb[top : top + step])) for top in strips], axis=1)


def decode_watermarks(image: Image.Image) -> list[Decode]:
    """Best agreement of every known payload over the four decoding paths (BGR/RGB x uint8/float32).

    Returns an empty list when the image is too small to carry the mark. Pixels are read as stored (no EXIF
    rotation): the mark was written into the stored pixel grid.
    """
    width, height = image.size
    if width * height < MIN_PIXELS:
        return []
    rows = min(height // 4 * 4, max(8, (MAX_DECODE_PIXELS // width) // 8 * 8))
    # Cropping whole block rows from the top keeps every block's index, hence its bit position; cropping before
    # the array conversion keeps the cost of a 20-megapixel photo at that of a 1-megapixel one.
    region = image.crop((0, 0, width // 4 * 4, rows))
    bits = _image_bits(np.asarray(region if region.mode == "RGB" else region.convert("RGB")))
    results = []
    for payload in PAYLOADS:
        decoded = _majority(bits, len(payload.bits))
        target = np.array(payload.bits, dtype=np.uint8)
        best: Decode | None = None
        for p, path in enumerate(PATHS):
            ones = float(decoded[p].mean())
            if not _MIN_ONES_FRACTION <= ones <= 1 - _MIN_ONES_FRACTION:
                continue
            agree = int((decoded[p] == target).sum())
            if best is None or agree > best.agree:
                best = Decode(payload, agree, path)
        if best is not None:
            results.append(best)
    return results


def mark_can_survive(image: Image.Image, jpeg_quality: int | None = None) -> bool:
    """Whether a mark embedded before ``image`` was stored could still be decoded from it.

    False for images too small to have been marked, images without colour (the mark lives in the chroma plane,
    constant in a grey image: every block reads the same bit), and JPEGs whose subsampling and quality
    ``jpeg_quality`` (the IJG estimate; ``None``: unknown) fall under ``JPEG_MIN_QUALITY``.
    """
    if image.width * image.height < MIN_PIXELS or ImageMode.getmode(image.mode).basemode == "L":
        return False
    if jpeg_quality is None or not isinstance(image, JpegImagePlugin.JpegImageFile):
        return True
    return jpeg_quality >= JPEG_MIN_QUALITY.get(JpegImagePlugin.get_sampling(image), 0)


def read_watermark(image: Image.Image, jpeg_quality: int | None = None) -> list[Signal]:
    """Look for the Stable Diffusion invisible watermark; return one strong AI signal if a payload decodes.

    A payload that agrees between its partial floor and its threshold (``Decode.partial``: a mark weakened by
    compression or resizing, or a rare coincidence) gives one info signal that never decides the verdict.
    Nothing is returned below that: re-encoded or resized images lose the mark, so its absence says nothing
    about the origin. ``jpeg_quality`` (the file's estimated IJG quality) lets a JPEG too compressed to keep
    any mark skip the decode (``mark_can_survive``).
    """
    if not mark_can_survive(image, jpeg_quality):
        return []
    start = time.perf_counter()
    decodes = decode_watermarks(image)
    logger.debug("watermark decode of %dx%d took %.1f ms", *image.size, 1000 * (time.perf_counter() - start))
    claimed = [d for d in decodes if d.claimed]
    if claimed:
        best = max(claimed, key=lambda d: d.agree / len(d.payload.bits))
        evidence = f"{best.payload.name} decoded ({best.agree}/{len(best.payload.bits)} bits, {best.path})"
        return [Signal("watermark", Hint.AI, evidence, Strength.STRONG)]
    partial = [d for d in decodes if d.partial]
    if not partial:
        return []
    best = max(partial, key=lambda d: d.agree / len(d.payload.bits))
    bits = len(best.payload.bits)
    evidence = (f"{best.payload.name} partly read ({best.agree}/{bits} bits, {best.path}; chance {bits // 2}, "
                f"decision threshold {best.payload.min_agree}): a degraded mark may be present, not evidence")
    return [Signal("watermark", Hint.NONE, evidence, Strength.INFO)]


__all__ = ["JPEG_MIN_QUALITY", "PAYLOADS", "Decode", "Payload", "decode_watermarks", "mark_can_survive",
           "read_watermark"]
