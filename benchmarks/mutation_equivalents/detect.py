"""detect.py: survivors judged equivalent."""

from __future__ import annotations

_ERROR_NAME = ("an error row's path is the error's path or else the row's name (Detector._verdict), and the error "
               "is rebuilt with that path (Verdict.failed): a missing or None name inside the error changes no row")
_ERROR_SIGNALS = "an error row never reads the prepared signals: Verdict.failed starts with none"
_READ_AHEAD = ("how far decoding runs ahead of the model, and on how many threads, changes memory and overlap, "
               "never a verdict or the order of the rows")
_THREAD_NAME = "the decoding threads' name prefix appears in no output"

EQUIVALENT: dict[str, tuple[str, str]] = {
    "xǁDetectorǁ_decode__mutmut_10": ("decode_image(data, None", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_12": ("max_bytes=None", "a fetched body is already capped at max_bytes by fetch()"),
    "xǁDetectorǁ_decode__mutmut_15": ("decode_image(data, max_pixels", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_17": ("decode_image(data, name, max_pixels=self.max_pixels, reduce",
                                      "a fetched body is already capped at max_bytes by fetch()"),
    "xǁDetectorǁ_decode__mutmut_20": ("decode_pil(source, None", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_23": ("decode_pil(source, max_pixels", _ERROR_NAME),
    "xǁDetectorǁ_decode__mutmut_26": ("decode_image(bytes(source), None", _ERROR_NAME),
    "xǁDetectorǁ_finish__mutmut_42": ("or True else None", "regions are only filled when explain is on, and a failed "
                                      "row is never scored, so the lookup finds nothing exactly where it is skipped"),
    "xǁDetectorǁ_finish__mutmut_45": ("self.explain or v.ok", "regions are only filled when explain is on, and a "
                                      "failed row is never scored, so the lookup finds nothing where it is skipped"),
    "xǁDetectorǁ_prepare__mutmut_2": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_20": ("_decode(source, None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_38": ("max(2, decoded.info.width)", "differs only for an image 1 px wide, which is "
                                       "under the minimum side, never scored, so its scale is never used"),
    "xǁDetectorǁ_prepare__mutmut_49": ("_Prepared(name=None", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_50": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_57": ("exc.message, None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_60": ("exc.message, ))", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_67": ("_Prepared(name=None", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_68": ("signals=None", _ERROR_SIGNALS),
    "xǁDetectorǁ_prepare__mutmut_75": ("{exc}\", None)", _ERROR_NAME),
    "xǁDetectorǁ_prepare__mutmut_78": ("{exc}\", ))", _ERROR_NAME),
    "xǁDetectorǁ_verdict__mutmut_22": ("or True else None", "a row that reaches this line has no error, and every "
                                       "such row was decoded and carries its info"),
    "xǁDetectorǁdetect__mutmut_6": ("and False else [name]", "names=[None] labels the row None, which falls back to "
                                    "the input's own name exactly as names=None does"),
    "xǁDetectorǁdetect_many__mutmut_2": ("workers: int = 3", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_18": ("2 / batch_size", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_19": ("3 * batch_size", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_20": ("workers / 2", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_21": ("workers * 3", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_22": ("max_workers=None", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_23": ("thread_name_prefix=None", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_24": ("ThreadPoolExecutor(thread_name_prefix", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_25": ("max(1, workers), )", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_30": ("max(2, workers)", _READ_AHEAD),
    "xǁDetectorǁdetect_many__mutmut_31": ("XXsentry-decodeXX", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_32": ("SENTRY-DECODE", _THREAD_NAME),
    "xǁDetectorǁdetect_many__mutmut_47": ("len(pending) > window", _READ_AHEAD),
}
