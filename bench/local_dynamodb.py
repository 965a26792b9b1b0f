"""A second DynamoDB for benchmarks: dynalite, started on loopback, in memory.

moto evaluates every Query by reading and sorting the whole table (moto/dynamodb/models/table.py
`Table.query` walks `all_items()`), so on moto any latency grows with the table, whatever the
request. dynalite (MIT, npm; pinned in bench/dynalite/package.json) keeps each table and each
secondary index as a sorted key space (memory-level) and answers a Query with a range read of
`Limit + 1` keys, as DynamoDB does, which makes it the local backend on which "the cost of a
request does not depend on the pool size" can be measured at all.

    with dynalite() as endpoint:   # http://127.0.0.1:<port>; DynamoDB only (no S3, SQS, streams)
        ...

It speaks the DynamoDB JSON protocol; it lacks TransactWriteItems and the TTL API, so only code
paths without those (GET /next: GetItem, Query, conditional UpdateItem) run on it.
Installed by `make bench-next` (`npm ci --prefix bench/dynalite --ignore-scripts`).
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent / "dynalite"
CLI = PACKAGE_DIR / "node_modules" / "dynalite" / "cli.js"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(endpoint: str, process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dynalite exited with {process.returncode}: {process.stdout.read()}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers (400 to a bare GET): up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dynalite did not answer on {endpoint} within {timeout_s} s")


@contextlib.contextmanager
def dynalite():
    """Start dynalite in memory on a free loopback port; yield its endpoint URL; stop it after."""
    node = shutil.which("node")
    if node is None or not CLI.exists():
        raise RuntimeError(f"needs Node.js and {CLI}: run `make bench-next` (npm ci --prefix {PACKAGE_DIR})")
    port = _free_port()
    process = subprocess.Popen(
        [node, str(CLI), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0",
         "--deleteTableMs", "0", "--updateTableMs", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
