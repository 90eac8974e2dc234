"""Scale-out inference: resumable batch scoring of large image sets on Ray Data (the ``scale`` extra).

Modules (each imports its optional dependency itself, so importing this package costs nothing):

* :mod:`.ray_setup`: start a local Ray (or join a cluster), with a plain message for a missing install.
* :mod:`.ray_cluster`: join a cluster: an unreachable address, token authentication, in one line each.
* :mod:`.local_reaper`: the watchdog that takes a local Ray down with a run that is killed.
* :mod:`.batch_inputs`: the images of a folder, a manifest or webdataset shards, as work for the scorers.
* :mod:`.parquet_out`: the output dataset: one Parquet part per batch, written atomically; what is done.
* :mod:`.ray_batch`: ``score_batch_run`` (``sentry-image score-batch``): an actor pool on Ray Data.
"""

from __future__ import annotations

__all__: list[str] = []
