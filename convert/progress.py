"""A plain progress display: one line per step, with its time, on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    """Prints ``[name] step i/n: what ... done in 1.2s`` lines."""

    def __init__(self, name: str, total: int, stream=sys.stderr) -> None:
        self.name, self.total, self.index, self.stream = name, total, 0, stream

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.index += 1
        print(f"[{self.name}] {self.index}/{self.total} {what} ...", file=self.stream, flush=True)
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            print(f"[{self.name}] {self.index}/{self.total} {what}: FAILED", file=self.stream, flush=True)
            raise
        print(f"[{self.name}]     done in {time.perf_counter() - start:.1f}s", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        print(f"[{self.name}]     {message}", file=self.stream, flush=True)
