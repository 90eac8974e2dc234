"""The invisible-watermark reader's exact rules, case by case, where the embedding tests only see the end result.

* The payloads: the message bytes, most significant bit first, as the library's ``np.unpackbits``.
* The colour conversion and the per-block bit: OpenCV's U plane (uint8 bit-exact, float32 to one ulp), and each
  block's bit read exactly as the library's ``infer_dct_matrix`` reads it, half-integer ties included.
* The majority vote: a bit is 1 when its average vote times 255 exceeds 127 (the library's rule), unvoted bits 0.
* Which pixels are read: the smallest markable image (256x256), rows and columns cut to whole blocks, the row cap
  and its one-block-row floor, images too thin to hold a block.
* What is claimed: constant patterns never count, ties between paths go to the first path, several claims or
  partial reads report the best fraction of agreeing bits, a 4:4:4 JPEG is always decoded, and the debug log.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sentry_image.provenance import watermark
from sentry_image.provenance.watermark import PAYLOADS, Decode, decode_watermarks, mark_can_survive, read_watermark
from sentry_image.types import Hint, Signal, Strength
from tests.helpers import provenance as helpers
from tests.helpers.provenance import embed, reencode, synthetic_photo

SDV1, SDV2, SDXL = PAYLOADS


def oracle() -> Any:
    """The library's own decoder (``imwatermark/maxDct.py``), loaded by the test helpers; skip without it."""
    if helpers._ORACLE is None:
        pytest.skip("invisible-watermark test oracle (with opencv) is not installed")
    return helpers._ORACLE


# -- payloads -------------------------------------------------------------------------------------------------------
def test_payload_bits_are_the_message_bytes_most_significant_bit_first() -> None:
    # "SDV2" = 0x53 0x44 0x56 0x32; 0xB3 = 1011 0011
    sdv2 = (0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0)
    assert watermark._bits_of(b"SDV2") == sdv2 == SDV2.bits
    assert watermark._bits_of(bytes.fromhex("B3EC907BB19E"))[:8] == (1, 0, 1, 1, 0, 0, 1, 1)
    assert watermark._bits_of(b"StableDiffusionV1") == SDV1.bits and len(SDV1.bits) == 136
    assert watermark._bits_of(b"") == ()


# -- colour conversion and per-block bits ---------------------------------------------------------------------------
def test_u_planes_are_opencv_yuv_on_every_path() -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    # Colours where cv2's luma rounding (+8192 before the 14-bit shift) decides the U value by one.
    rgb[0, :3] = [(0, 159, 212), (1, 160, 213), (196, 131, 0)]
    planes = watermark._u_planes(rgb)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    for k, source in enumerate((bgr, bgr.astype(np.float32), rgb, rgb.astype(np.float32))):
        expected = cv2.cvtColor(source, cv2.COLOR_BGR2YUV)[:, :, 1]
        if k % 2 == 0:  # uint8: cv2's fixed point, bit for bit
            assert np.array_equal(planes[k], expected), watermark.PATHS[k]
        else:  # float32 values, within one float32 ulp of the 0-255 terms of cv2 (which may fuse multiply-adds)
            assert np.array_equal(planes[k], planes[k].astype(np.float32)), watermark.PATHS[k]
            assert np.abs(planes[k] - expected).max() <= np.spacing(np.float32(255)), watermark.PATHS[k]


@pytest.mark.parametrize("shape", [(96, 136), (64, 64)])
def test_every_block_bit_is_the_library_bit(shape: tuple[int, int]) -> None:
    # One vote per bit position (message length = number of blocks) makes the library return each block's bit.
    # Random pixels put the largest coefficient on the block's second element and exactly on |v| mod 36 = 18
    # (uint8 paths) in some blocks: both are read as the library reads them.
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    bits = watermark._image_bits(rgb)
    blocks = (shape[0] // 8) * (shape[1] // 8)
    assert bits.shape == (4, blocks)
    decoder = oracle().EmbedMaxDct(wmLen=blocks, scales=[0, 36, 36], block=4)
    bgr = rgb[:, :, ::-1]
    for k, source in enumerate((bgr, bgr.astype(np.float32), rgb, rgb.astype(np.float32))):
        assert np.array_equal(bits[k], decoder.decode(np.ascontiguousarray(source))), watermark.PATHS[k]


# -- majority vote --------------------------------------------------------------------------------------------------
def votes(ones: int, total: int) -> np.ndarray:
    return np.array([1.0] * ones + [0.0] * (total - ones))


def test_majority_is_the_library_rule_average_times_255_above_127() -> None:
    # Each row is one path; with a message of length 1 every block votes for the same bit. 127 of 255 votes:
    # 127/255 * 255 = 127, not above 127.
    assert watermark._majority(np.stack([votes(127, 255), votes(128, 255)]), 1).tolist() == [[0], [1]]
    assert watermark._majority(np.stack([votes(1, 1), votes(0, 1)]), 1).tolist() == [[1], [0]]
    # 126/253 * 255 = 126.996 (not above 127) though 126/253 * 256 = 127.49 would be
    assert watermark._majority(votes(126, 253)[None, :], 1).tolist() == [[0]]


def test_majority_averages_blocks_cyclically_and_unvoted_bits_read_zero() -> None:
    # Blocks k, k+3, k+6 vote for bit k; a message longer than the blocks leaves its last bits without votes.
    block_bits = np.array([[1, 0, 1, 1, 0, 0, 0, 1, 1.0]])
    assert watermark._majority(block_bits, 3).tolist() == [[1, 0, 1]]  # bit 0: 1,1,0; bit 1: 0,0,1; bit 2: 1,0,1
    assert watermark._majority(np.array([[1, 1.0], [0, 1]]), 5).tolist() == [[1, 1, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert watermark._majority(np.zeros((4, 0)), 3).tolist() == [[0, 0, 0]] * 4


# -- which pixels are read ------------------------------------------------------------------------------------------
def test_the_smallest_image_the_library_marks_is_read() -> None:
    marked = embed(synthetic_photo(256, seed=3), "sdv1", "compvis")
    assert mark_can_survive(marked)
    assert read_watermark(marked) == [Signal(
        "watermark", Hint.AI, 'Stable Diffusion invisible watermark "StableDiffusionV1" decoded (136/136 bits, BGR)',
        Strength.STRONG)]
    one_pixel_short = Image.new("RGB", (256, 255), (200, 60, 30))
    assert not mark_can_survive(one_pixel_short) and decode_watermarks(one_pixel_short) == []


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Shapes of the pixel arrays handed to the block decoder (which still runs on them)."""
    shapes: list[tuple[int, ...]] = []
    real = watermark._image_bits

    def spy(rgb: np.ndarray) -> np.ndarray:
        shapes.append(rgb.shape)
        return real(rgb)

    monkeypatch.setattr(watermark, "_image_bits", spy)
    return shapes


@pytest.mark.parametrize(("size", "cap", "shape"), [
    ((514, 301), 1 << 20, (300, 512, 3)),  # whole 4-pixel blocks: the library's row//4*4, col//4*4
    ((1500, 900), 1 << 20, (696, 1500, 3)),  # cap: 2**20 // 1500 = 699 rows, cut to whole 8-row block rows
    ((512, 300), 512 * 100, (96, 512, 3)),
    ((512, 300), 512 * 4, (8, 512, 3)),  # a cap under one block row still reads one block row
])
def test_rows_and_columns_read(size: tuple[int, int], cap: int, shape: tuple[int, int, int],
                               rows_read: list[tuple[int, ...]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watermark, "MAX_DECODE_PIXELS", cap)
    decode_watermarks(Image.new("RGB", size, (200, 60, 30)))
    assert rows_read == [shape]


@pytest.mark.parametrize("size", [(65536, 1), (32768, 2), (16384, 4)])
def test_an_image_too_thin_for_one_block_decodes_nothing(size: tuple[int, int]) -> None:
    # Large enough in pixels, but under the 8 rows of one block row: no vote at all, and no error.
    rgb = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    assert decode_watermarks(Image.fromarray(rgb)) == []


# -- what is claimed ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("colour", [(128, 128, 128), (200, 60, 30), (10, 200, 90)])
def test_a_flat_image_decodes_no_message(colour: tuple[int, int, int]) -> None:
    # Every block reads the same bit on each path (all ones on some paths for these colours): not a message.
    flat = np.full((256, 256, 3), colour, np.uint8)
    assert {float(b) for b in watermark._image_bits(flat).ravel()} <= {0.0, 1.0}
    assert decode_watermarks(Image.fromarray(flat)) == []


def test_a_tie_between_paths_goes_to_the_first_path() -> None:
    # Red equal to blue: the RGB paths see the same planes as the BGR ones, so they agree exactly as well.
    rgb = np.random.default_rng(9).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    rgb[..., 2] = rgb[..., 0]
    decodes = decode_watermarks(Image.fromarray(rgb))
    assert len(decodes) == 3 and all(d.path.startswith("BGR") for d in decodes)


def test_an_image_marked_twice_reports_the_first_perfect_message() -> None:
    # An SD 2 mark (BGR order) then an SDXL one (RGB order, another chroma plane): both read in full, and the
    # tie at 100 % goes to the payload listed first.
    twice = embed(np.asarray(embed(synthetic_photo(512, seed=12), "sdv2", "compvis")), "sdxl", "diffusers")
    claimed = {d.payload.name: d.agree for d in decode_watermarks(twice) if d.claimed}
    assert claimed == {SDV2.name: 32, SDXL.name: 48}
    assert read_watermark(twice) == [Signal(
        "watermark", Hint.AI, 'Stable Diffusion 2 invisible watermark "SDV2" decoded (32/32 bits, BGR)',
        Strength.STRONG)]


def fixed_decodes(monkeypatch: pytest.MonkeyPatch, *decodes: Decode) -> None:
    monkeypatch.setattr(watermark, "decode_watermarks", lambda image: list(decodes))


def test_several_claims_report_the_best_fraction_of_agreeing_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    # 32/32 beats 100/136 though 100 bits are more bits.
    fixed_decodes(monkeypatch, Decode(SDV1, 100, "BGR"), Decode(SDV2, 32, "RGB"), Decode(SDXL, 20, "BGR"))
    [signal] = read_watermark(Image.new("RGB", (256, 256), (200, 60, 30)))
    assert signal.evidence == 'Stable Diffusion 2 invisible watermark "SDV2" decoded (32/32 bits, RGB)'


def test_several_partial_reads_report_the_best_fraction(monkeypatch: pytest.MonkeyPatch) -> None:
    # 37/48 = 0.77 beats 99/136 = 0.73; SDV2 at chance says nothing.
    fixed_decodes(monkeypatch, Decode(SDV1, 99, "BGR"), Decode(SDV2, 16, "BGR"), Decode(SDXL, 37, "RGB/f32"))
    assert read_watermark(Image.new("RGB", (256, 256), (200, 60, 30))) == [Signal(
        "watermark", Hint.NONE, "SDXL invisible watermark 0xB3EC907BB19E partly read (37/48 bits, RGB/f32; chance 24, "
        "decision threshold 38): a degraded mark may be present, not evidence", Strength.INFO)]


@pytest.mark.parametrize(("subsampling", "quality", "decoded"), [(0, 0, True), (0, 1, True), (1, 0, True),
                                                                 (2, 49, False), (2, 50, True)])
def test_only_420_jpegs_have_a_quality_floor(marked_sdv1: Image.Image, subsampling: int, quality: int,
                                             decoded: bool) -> None:
    # 4:4:4 and 4:2:2 are decoded whatever the quality (even an estimate of 0); 4:2:0 from q50 up.
    jpeg = reencode(marked_sdv1, "JPEG", quality=90, subsampling=subsampling)
    assert mark_can_survive(jpeg, quality) is decoded


def test_the_decode_time_is_logged(marked_sdv1: Image.Image, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    clock = iter([2.0, 2.25])  # exact in binary: 250.0 ms
    monkeypatch.setattr(watermark, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with caplog.at_level(logging.DEBUG, logger=watermark.__name__):
        read_watermark(marked_sdv1)
    assert caplog.messages == ["watermark decode of 512x512 took 250.0 ms"]
