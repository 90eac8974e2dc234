"""Scale-out inference: ONNX export and an onnxruntime backend, and resumable batch scoring on Ray Data.

Modules (each imports its optional dependency itself, so importing this package costs nothing):

* :mod:`.onnx_export`: ``export_onnx`` writes a checkpoint as an ONNX graph with a dynamic batch, its
  preprocessing and calibration stored in the file's metadata; optional INT8 dynamic quantisation.
* :mod:`.onnx_runtime`: ``load_onnx`` gives what ``load_detector(..., backend="onnx")`` needs: a model with the
  detector contract (``[B, 3, H, W]`` -> ``[B]`` logits) that runs on onnxruntime.
* :mod:`.batch_inputs`: the images of a folder, a manifest or webdataset shards, as work for the scorers.
* :mod:`.parquet_out`: the output dataset: one Parquet part per batch, written atomically; what is done.
* :mod:`.ray_batch`: ``score_batch_run`` (``sentry-image score-batch``): an actor pool on Ray Data.
"""

from __future__ import annotations

__all__: list[str] = []
