"""Join a running Ray cluster (``score-batch --address``), with one-line messages for what stops a join.

* An address that cannot be reached: checked with a TCP connect first, as ``ray.init``'s own retries take
  minutes to give up on a wrong host or port.
* Token authentication. A cluster whose head started with a token (``ray start --head`` turns token
  authentication on when one exists: ``~/.ray/auth_token``, ``RAY_AUTH_TOKEN_PATH`` or ``RAY_AUTH_TOKEN``) refuses
  a client that sends none or a wrong one. Ray then logs ``InvalidAuthToken`` for 20 s and gives up with a bare
  "failed to connect", so the GCS is asked once, up front, and a refusal is turned into what to set. Ray only
  sends the token when ``RAY_AUTH_MODE=token`` is set: on a given address it never sends it on its own (that
  would hand a local token to whatever listens there), and neither does score-batch.
* A token setting Ray cannot read (an empty ``RAY_AUTH_TOKEN_PATH`` file, token mode with no token): Ray's core
  aborts the process with a stack trace, so these are checked in Python before Ray sees them.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .batch_inputs import ScaleError

CONNECT_TIMEOUT_S = 5.0
TOKEN_HELP = "`ray get-auth-token` on the head node prints it"


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` or ``ray://host:port``; None for ``auto`` and other forms Ray resolves."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ScaleError unless a TCP connection to ``address`` opens within ``timeout`` seconds."""
    target = _host_port(address)
    if target is None:
        if address != "auto":
            raise ScaleError(f"bad Ray address {address!r}: expected 'auto', 'host:port' or 'ray://host:port'")
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        raise ScaleError(f"cannot reach a Ray cluster at {address!r} ({exc.strerror or exc}); check the address "
                         "(the head's GCS port, usually 6379, or ray:// client port 10001) and that it is up"
                         ) from None


def token_mode() -> bool:
    """Whether this process sends a token to the cluster: ``RAY_AUTH_MODE=token``, as Ray reads it."""
    return os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "token"


def token_source() -> tuple[str, str | None]:
    """Where Ray takes the token from, in its order, and the token (None when that source has none).

    ``RAY_AUTH_TOKEN`` if set and not blank, else the file named by ``RAY_AUTH_TOKEN_PATH``, else
    ``~/.ray/auth_token``; surrounding white space does not count (Ray strips it).
    """
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN", os.environ["RAY_AUTH_TOKEN"].strip()
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    path = Path(named).expanduser() if named else Path.home() / ".ray" / "auth_token"
    label = f"RAY_AUTH_TOKEN_PATH ({path})" if named else str(path)
    try:
        return label, path.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return label, None


def check_token_settings(*, joining: bool = True) -> None:
    """Raise ScaleError for token settings Ray's core would abort on, naming what to fix.

    A local Ray makes itself a token when there is none, so only ``joining`` a cluster needs one to exist.
    """
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    source, token = token_source()
    if named and source != "RAY_AUTH_TOKEN" and token is None:
        raise ScaleError(f"RAY_AUTH_TOKEN_PATH names {named}, which cannot be read or is empty: point it at a file "
                         f"holding the Ray token ({TOKEN_HELP}) or unset it")
    if joining and token_mode() and token is None:
        raise ScaleError(f"RAY_AUTH_MODE=token but no token was found: put the cluster's token in {source} or in "
                         f"RAY_AUTH_TOKEN ({TOKEN_HELP})")


def refused_message(address: str) -> str:
    """What to set when the cluster at ``address`` refused this client's token (or the lack of one)."""
    if not token_mode():
        return (f"the Ray cluster at {address!r} requires token authentication: set RAY_AUTH_MODE=token and give "
                f"this machine the cluster's token in ~/.ray/auth_token, a file named by RAY_AUTH_TOKEN_PATH, or "
                f"RAY_AUTH_TOKEN ({TOKEN_HELP})")
    source, _ = token_source()
    fix = ("set RAY_AUTH_TOKEN to the cluster's token" if source == "RAY_AUTH_TOKEN" else
           f"put the cluster's token in {source} or in RAY_AUTH_TOKEN")
    return f"the Ray cluster at {address!r} refused the token from {source}: {fix} ({TOKEN_HELP})"


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (Ray's core writes its warnings there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_auth(ray: Any, address: str) -> None:
    """Ask the GCS at ``address`` for its cluster id once; raise ScaleError if it refuses this client's token."""
    if _host_port(address) is None or address.startswith("ray://"):
        return  # 'auto' and Ray Client addresses: ray.init's own errors are mapped by join()
    gcs_client = getattr(ray._raylet, "GcsClient", None)  # Ray's own GCS client (what ray.init connects with)
    if gcs_client is None:  # a Ray without it: the join reports what it can
        return
    try:
        with _quiet_stderr():  # Ray's core logs the refusal too: the one line below says it, with what to do
            gcs_client(address=address, cluster_id=None)  # fetches the cluster id: one call, answered at once
    except ray.exceptions.AuthenticationError:
        raise ScaleError(refused_message(address)) from None
    except ray.exceptions.RpcError as exc:  # no GCS answers there: ray.init would retry as long again, then fail
        raise ScaleError(f"cannot join the Ray cluster at {address!r}: {exc} (is it the head's GCS port, usually "
                         "6379?)") from None
    except Exception:  # anything else (e.g. an older cluster) is ray.init's to report, in its own words
        return


def join(ray: Any, address: str) -> None:
    """``ray.init`` on the cluster at ``address``; ScaleError in one line when that cannot be done."""
    check_token_settings(joining=True)
    check_reachable(address)
    check_auth(ray, address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except ray.exceptions.AuthenticationError:
        raise ScaleError(refused_message(address)) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ScaleError(f"cannot join the Ray cluster at {address!r}: {exc}") from None


__all__ = ["check_auth", "check_reachable", "check_token_settings", "join", "refused_message", "token_source"]
