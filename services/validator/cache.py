"""The validator's result caches: one bounded, thread-safe LRU with hit and miss counts.

Keys are content hashes (an object's, a render's, a whole chart's), so a result is only ever
reused for the same content; `clear()` forgets results, never loaded code or schemas.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; the least recently used goes first; counts hits and misses."""

    def __init__(self, size: int) -> None:
        """An empty cache holding at most size entries."""
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value stored under key (now the most recent), or None."""
        with self.lock:
            value = self.items.get(key)
            if value is None:
                self.misses += 1
                return None
            self.items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        """Store a value, dropping the least recently used beyond the size."""
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry and the counts."""
        with self.lock:
            self.items.clear()
            self.hits = self.misses = 0
