"""Streaming extraction of a split archive vs ``tar -xzf`` of the joined archive, and its peak memory.

Generates, on the fly, a ``.tar.gz`` of incompressible "images" (random bytes, like PNG/JPEG data) cut into
numbered parts as it is written (the joined archive is never produced by the generator), then in one run:

1. baseline: ``cat parts > joined.tar.gz`` (what the dataset's README tells users to do) and ``tar -xzf``;
   the ``cat`` is timed apart so the ratio compares decompression + writing only;
2. ``sentry_image.data.archive.extract`` on the parts, in a child process that reports its own peak RSS
   (``VmHWM``), and the same for a small archive, to show that memory does not grow with the archive.

Prints throughput as a ratio against ``tar`` in the same run (machines differ; ratios travel).
Not part of the test suite: it writes about 3x ``--size-gb`` to ``--workdir``.

    .venv/bin/python benchmarks/extract_stream.py --size-gb 2
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

# The child loads archive.py on its own (it needs only the standard library): importing the package would add
# torch's footprint to the RSS and hide what extraction itself costs.
CHILD = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("archive", sys.argv[3])
archive = sys.modules["archive"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(archive)
seconds = 0.0
if sys.argv[1] != "-":
    t0 = time.perf_counter()
    archive.extract(sys.argv[1], sys.argv[2])
    seconds = time.perf_counter() - t0
# VmHWM is this process image's own peak: ru_maxrss would also count the parent's pages before exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(seconds, hwm * 1024)
"""
ARCHIVE_PY = Path(__file__).resolve().parents[1] / "src" / "sentry_image" / "data" / "archive.py"


class PartWriter(io.RawIOBase):
    """A write-only stream that cuts what it receives into ``name.00``, ``name.01``, ... of ``part_size`` bytes."""

    def __init__(self, folder: Path, name: str, part_size: int) -> None:
        super().__init__()
        self.folder, self.name, self.part_size = folder, name, part_size
        self.index, self.used, self.total = 0, 0, 0
        self.f = open(folder / f"{name}.{0:02d}", "wb")  # noqa: SIM115 - rolled over in write, closed in close

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data)
        while view:
            if self.used == self.part_size:
                self.f.close()
                self.index, self.used = self.index + 1, 0
                self.f = open(self.folder / f"{self.name}.{self.index:02d}", "wb")  # noqa: SIM115
            n = min(len(view), self.part_size - self.used)
            self.f.write(view[:n])
            view, self.used, self.total = view[n:], self.used + n, self.total + n
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.f.close()
        super().close()


def generate(folder: Path, size: int, part_size: int, seed: int = 0) -> tuple[int, int]:
    """Write a split tar.gz of about ``size`` uncompressed bytes; returns (members, compressed bytes)."""
    rng = np.random.default_rng(seed)
    pool = rng.bytes(64 << 20)  # slices of one random pool: still incompressible for deflate's 32 KB window
    folder.mkdir(parents=True, exist_ok=True)
    gzip_proc = subprocess.Popen(["gzip", "-1", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert gzip_proc.stdin is not None and gzip_proc.stdout is not None
    writer = PartWriter(folder, "bench.tar.gz", part_size)
    import threading

    def pump() -> None:
        assert gzip_proc.stdout is not None
        while chunk := gzip_proc.stdout.read(1 << 20):
            writer.write(chunk)

    thread = threading.Thread(target=pump)
    thread.start()
    members, written = 0, 0
    with tarfile.open(fileobj=gzip_proc.stdin, mode="w|") as tar:
        while written < size:
            n = int(rng.integers(100_000, 1_500_000))  # sizes of 512-1024 px PNG/JPEG images
            start = int(rng.integers(0, len(pool) - n))
            info = tarfile.TarInfo(f"bench/gen-{members % 7}/{members:07d}.png")
            info.size = n
            tar.addfile(info, io.BytesIO(pool[start:start + n]))
            members, written = members + 1, written + n
    gzip_proc.stdin.close()
    thread.join()
    gzip_proc.wait()
    writer.close()
    return members, writer.total


def run_child(parts: Path | str, out: Path | str) -> tuple[float, int]:
    """Extract in a child process; returns (seconds spent in extract, peak RSS in bytes). ``-`` only imports."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(parts), str(out), str(ARCHIVE_PY)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    printed = proc.stdout.read()
    if proc.wait():
        raise SystemExit(f"extraction failed with status {proc.returncode}")
    seconds, peak = printed.split()
    return float(seconds), int(peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=2.0, help="uncompressed size of the large archive")
    ap.add_argument("--part-mb", type=int, default=256, help="part size (the hub's are 3220 MB)")
    ap.add_argument("--small-mb", type=int, default=200, help="size of the small archive for the memory check")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="extract-bench-", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        members, packed = generate(work / "parts", int(args.size_gb * 1e9), args.part_mb << 20)
        nparts = len(list((work / "parts").iterdir()))
        print(f"archive: {members} members, {args.size_gb:.2f} GB uncompressed, {packed / 1e9:.2f} GB in {nparts} "
              f"parts of {args.part_mb} MB (generated in {time.perf_counter() - t0:.1f} s)")

        t0 = time.perf_counter()
        with open(work / "joined.tar.gz", "wb") as joined:
            for p in sorted((work / "parts").iterdir(), key=lambda p: int(p.suffix[1:])):
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, joined, 1 << 20)
        t_cat = time.perf_counter() - t0
        (work / "tar-out").mkdir()
        t0 = time.perf_counter()
        subprocess.run(["tar", "-xzf", str(work / "joined.tar.gz"), "-C", str(work / "tar-out")], check=True)
        t_tar = time.perf_counter() - t0
        (work / "joined.tar.gz").unlink()
        shutil.rmtree(work / "tar-out")

        t_ours, rss_large = run_child(work / "parts", work / "ours-out")
        shutil.rmtree(work / "ours-out")
        shutil.rmtree(work / "parts")

        generate(work / "small", args.small_mb << 20, 64 << 20, seed=1)
        _, rss_small = run_child(work / "small", work / "small-out")
        _, rss_python = run_child("-", "-")

        mb = packed / 1e6
        print(f"tar -xzf joined archive : {t_tar:6.1f} s  {mb / t_tar:7.1f} MB/s compressed (+ {t_cat:.1f} s to cat "
              f"the parts, and {packed / 1e9:.2f} GB of extra disk)")
        print(f"sentry-image extract    : {t_ours:6.1f} s  {mb / t_ours:7.1f} MB/s compressed, from the parts directly")
        print(f"throughput ratio        : {t_tar / t_ours:.2f}x tar's (>1 is faster); "
              f"{(t_tar + t_cat) / t_ours:.2f}x cat + tar")
        print(f"peak RSS                : {rss_large / 2**20:.0f} MiB for {args.size_gb:.2f} GB, "
              f"{rss_small / 2**20:.0f} MiB for {args.small_mb} MB, interpreter + archive.py alone "
              f"{rss_python / 2**20:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
