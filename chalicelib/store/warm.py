"""What a warm container keeps between requests for a bounded time: items read on every call
(the project a prediction is for, an API token) are read again at most every `ttl_seconds()`.

A write made through this container drops its entry at once (the repository calls `discard`);
a write made elsewhere (another Lambda container) is seen within the bound. The bound is
`ACTIVELABEL_WARM_CACHE_SECONDS` (default 5; 0 turns the cache off): a revoked token or a newly
promoted model takes at most that long to reach a container that read it before.
"""
import os
import time
from collections import OrderedDict
from threading import Lock
from typing import Callable

from chalicelib.store import aws

DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 512


def ttl_seconds() -> float:
    raw = os.environ.get("ACTIVELABEL_WARM_CACHE_SECONDS", "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_TTL_SECONDS
    except ValueError:
        return DEFAULT_TTL_SECONDS


class WarmCache:
    """Values by key for at most ttl_seconds() after they were read (monotonic clock), LRU-bounded."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self._items: "OrderedDict[object, tuple[float, object]]" = OrderedDict()
        self._lock = Lock()
        self._max = max_entries

    def get(self, key, load: Callable[[], object], keep: Callable[[object], bool] = lambda value: True):
        """The cached value for `key` if younger than the bound, else `load()` (kept when `keep(value)`)."""
        ttl = ttl_seconds()
        now = time.monotonic()
        if ttl > 0:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None and now - hit[0] < ttl:
                    self._items.move_to_end(key)
                    return hit[1]
        value = load()
        if ttl > 0 and keep(value):
            with self._lock:
                self._items[key] = (now, value)
                self._items.move_to_end(key)
                while len(self._items) > self._max:
                    self._items.popitem(last=False)
        return value

    def discard(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


projects = WarmCache()
tokens = WarmCache()


def clear() -> None:
    projects.clear()
    tokens.clear()


aws.on_reset(clear)
