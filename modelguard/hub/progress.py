"""What a download shows while it runs: one bar for the whole model, one line per file in flight.

Only on a terminal (the CLI decides: stderr is a TTY and no ``-q``); in CI and in library calls
nothing is drawn (:class:`Silent`). Bars go to stderr through tqdm, which serialises the threads that
update them. Never part of a verdict; never shows a URL (they hold signed CDN tokens).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class Progress(Protocol):
    def start(self, path: str, size: int, done: int) -> None: ...

    def advance(self, path: str, count: int) -> None: ...

    def restart(self, path: str, lost: int) -> None: ...

    def finish(self, path: str) -> None: ...

    def close(self) -> None: ...


class Silent:
    """No display (CI, pipes, library calls)."""

    def start(self, path: str, size: int, done: int) -> None:
        pass

    def advance(self, path: str, count: int) -> None:
        pass

    def restart(self, path: str, lost: int) -> None:
        pass

    def finish(self, path: str) -> None:
        pass

    def close(self) -> None:
        pass


class Bars:
    """A total bar over ``total`` bytes and a bar per active file (tqdm, on stderr)."""

    def __init__(self, total: int, *, label: str) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._lock = threading.Lock()
        self._total: Any = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label[-40:],
                                position=0, dynamic_ncols=True)
        self._files: dict[str, Any] = {}
        self._free: list[int] = []

    def start(self, path: str, size: int, done: int) -> None:
        with self._lock:
            position = self._free.pop(0) if self._free else len(self._files) + 1
            self._files[path] = self._tqdm(total=size, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                                           desc=f"  {path[-38:]}", position=position, leave=False,
                                           dynamic_ncols=True)
            self._files[path].position_ = position
            self._total.update(done)

    def advance(self, path: str, count: int) -> None:
        bar = self._files.get(path)
        if bar is not None:
            bar.update(count)
        self._total.update(count)

    def restart(self, path: str, lost: int) -> None:
        bar = self._files.get(path)
        if bar is not None:
            bar.reset()
        self._total.update(-lost)

    def finish(self, path: str) -> None:
        with self._lock:
            bar = self._files.pop(path, None)
            if bar is not None:
                self._free.append(bar.position_)
                self._free.sort()
                bar.close()

    def close(self) -> None:
        with self._lock:
            for bar in self._files.values():
                bar.close()
            self._files.clear()
            self._total.close()
