"""Dynamic batching: concurrent requests for one model variant run as one ``session.run``.

Like Triton's dynamic batcher. Requests for the same (model, version, variant) queue up; one
of the waiting threads (the leader: no extra thread) takes the queue once it holds
``max_size`` rows or its oldest request has waited ``max_delay`` seconds, stacks the feeds
along the batch dimension, runs them once and hands each request its own rows of the
outputs. One batch per model variant runs at a time in a process, so while the model is busy
the next requests gather into the next batch (with ``max_delay`` 0 a lone request runs at
once, and batches form only under load).

What can stack (``batchable``):

- every input's first dimension and every output's first dimension is dynamic (a string in
  the manifest, such as ``"batch"``): a model whose batch is fixed to 1 (the face detector)
  is never batched;
- other dynamic input dimensions (a text model's ``"sequence"``) are right-padded to the
  longest in the batch with 0, the tokenizer's pad id and the attention mask's "no token"
  (``contract.tasks.tokenization`` pads a request to its own longest text the same way); an
  output with such a dimension would change with the padding, so a model that has one is not
  batched (the catalog's text models pool inside the graph: ``[batch, 2]``, ``[batch, 384]``);
- not a variant quantized dynamically (``quantization: "dynamic"``, int8 with
  ``DynamicQuantizeLinear``): it takes its scale from the min/max of the whole tensor, so
  other requests' rows and padding would change this request's numbers. The catalog's server
  variants are fp32 (``recommended.server``); the dynamic int8 ones run unbatched when asked for.

Batched results equal the results of each request run alone up to float rounding: a GEMM over
more rows or longer padded sequences may sum in another order (tests/host/test_batching.py
bounds it). A request with more rows than ``max_size`` runs alone. ``RemoteSession``
(app/remote.py) batches the same way: one V2 infer call per batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from app.config import DEFAULTS
from app.metrics import record_batch
from app.registry import ModelVersion


class Runner(Protocol):
    def run(self, output_names: list[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]: ...


@dataclass
class _Request:
    feeds: Mapping[str, np.ndarray]
    rows: int
    signature: tuple[Any, ...]  # what must agree to stack: dtypes and fixed dims, per input
    queued: float = field(default_factory=time.perf_counter)
    done: bool = False
    outputs: list[np.ndarray] | None = None
    error: BaseException | None = None


@dataclass
class _Queue:
    cond: threading.Condition = field(default_factory=threading.Condition)
    pending: list[_Request] = field(default_factory=list)
    busy: bool = False  # a leader is gathering or running a batch


@dataclass(frozen=True)
class Plan:
    """How a model variant batches: ``reason`` says why not when ``batchable`` is False."""

    batchable: bool
    reason: str = ""
    padded: tuple[tuple[str, tuple[int, ...]], ...] = ()  # input name -> axes padded with 0
    dims: tuple[tuple[str, int, str], ...] = ()  # (input, axis, dim name): equal names must agree in a request


def plan(model: ModelVersion, file: str) -> Plan:
    """Whether ``file`` of ``model`` can batch, from its manifest (see the module docstring)."""
    variant: dict[str, Any] = next((v for v in model.manifest.get("variants", []) if v.get("file") == file), {})
    if variant.get("quantization") == "dynamic":
        return Plan(False, "dynamic int8: scales come from the whole batch")
    padded: list[tuple[str, tuple[int, ...]]] = []
    dims: list[tuple[str, int, str]] = []
    for spec in model.manifest["inputs"]:
        shape = list(spec.get("shape") or [])
        if not shape or not isinstance(shape[0], str):
            return Plan(False, f"input {spec['name']} has a fixed batch dimension")
        axes = tuple(i for i, dim in enumerate(shape) if i > 0 and not isinstance(dim, int))
        dims.extend((spec["name"], i, str(shape[i])) for i in axes)
        padded.append((spec["name"], axes))
    for spec in model.manifest["outputs"]:
        shape = list(spec.get("shape") or [])
        if not shape or not isinstance(shape[0], str):
            return Plan(False, f"output {spec['name']} has a fixed batch dimension")
        if any(not isinstance(dim, int) for dim in shape[1:]):
            return Plan(False, f"output {spec['name']} has a dynamic dimension besides the batch")
    return Plan(True, padded=tuple(padded), dims=tuple(dims))


def per_model(value: Any, setting: str, default: float) -> tuple[float, dict[str, float]]:
    """A setting given for every model (a number) or for some (``{"<model>": number}``, the others
    getting ``default``): (the value for the rest, {model: value}). ValueError saying what to write."""
    def number(x: Any, where: str) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ValueError(f"BROWSERML_{setting}{where} is {x!r}; give a number, or "
                             f'{{"<model>": <number>, ...}} for some models')
        return float(x)

    if isinstance(value, dict):
        return default, {str(name): number(x, f"[{name!r}]") for name, x in value.items()}
    return number(value, ""), {}


class Batcher:
    """Stacks concurrent ``run`` calls per model variant (``max_size`` rows, ``max_delay`` seconds),
    with limits per model where ``sizes`` / ``delays`` name one."""

    def __init__(self, max_size: int = 16, max_delay: float = 0.002, sizes: Mapping[str, int] | None = None,
                 delays: Mapping[str, float] | None = None) -> None:
        self.max_size = max_size
        self.max_delay = max_delay
        self.sizes, self.delays = dict(sizes or {}), dict(delays or {})
        for name, size in [("*", max_size), *self.sizes.items()]:
            if size < 1 or size != int(size):
                raise ValueError(f"the batch size of {name} must be a whole number >= 1, got {size}")
        for name, delay in [("*", max_delay), *self.delays.items()]:
            if delay < 0:
                raise ValueError(f"the batch delay of {name} must be >= 0, got {delay}")
        self._queues: dict[tuple[str, int, str], _Queue] = {}
        self._plans: dict[tuple[str, int, str], Plan] = {}
        self._guard = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Batcher | None:
        """``BATCHING`` (on by default), ``BATCH_MAX_SIZE``, ``BATCH_MAX_DELAY_MS`` (each a number, or
        ``{"<model>": number}`` for some models); None when off."""
        if not config.get("BATCHING", DEFAULTS["BATCHING"]):
            return None
        size, sizes = per_model(config.get("BATCH_MAX_SIZE", DEFAULTS["BATCH_MAX_SIZE"]), "BATCH_MAX_SIZE",
                                DEFAULTS["BATCH_MAX_SIZE"])
        delay, delays = per_model(config.get("BATCH_MAX_DELAY_MS", DEFAULTS["BATCH_MAX_DELAY_MS"]),
                                  "BATCH_MAX_DELAY_MS", DEFAULTS["BATCH_MAX_DELAY_MS"])
        return cls(int(size), delay / 1000, {m: int(v) for m, v in sizes.items()},
                   {m: v / 1000 for m, v in delays.items()})

    def limits(self, model: str) -> tuple[int, float]:
        """(max rows, max delay in s) for ``model``."""
        return self.sizes.get(model, self.max_size), self.delays.get(model, self.max_delay)

    def plan(self, model: ModelVersion, file: str) -> Plan:
        key = (model.name, model.version, file)
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = plan(model, file)
        return found

    def run(self, session: Runner, model: ModelVersion, file: str, names: list[str],
            feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """``session.run(names, feeds)``, batched with other threads' calls for the same variant."""
        how = self.plan(model, file)
        rows = _rows(feeds)
        max_size, max_delay = self.limits(model.name)
        if not how.batchable or rows is None or rows > max_size or not _consistent(feeds, how.dims):
            return session.run(names, dict(feeds))
        key = (model.name, model.version, file)
        with self._guard:
            queue = self._queues.setdefault(key, _Queue())
        padded = dict(how.padded)
        request = _Request(feeds, rows, _signature(feeds, padded))
        with queue.cond:
            queue.pending.append(request)
            queue.cond.notify_all()  # a gathering leader may now have a full batch
        while True:
            with queue.cond:
                while not request.done and queue.busy:
                    queue.cond.wait()
                if request.done:
                    break
                queue.busy = True  # this thread leads the next batch
                deadline = queue.pending[0].queued + max_delay
                while sum(r.rows for r in queue.pending) < max_size:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    queue.cond.wait(left)
                batch = self._take(queue, max_size)
            try:
                self._run_batch(session, model.name, names, batch, padded)
            finally:
                with queue.cond:
                    queue.busy = False
                    queue.cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.outputs is not None
        return request.outputs

    @staticmethod
    def _take(queue: _Queue, max_size: int) -> list[_Request]:
        """The oldest request and those after it that stack with it, up to ``max_size`` rows."""
        first = queue.pending[0]
        batch, rows, left = [], 0, []
        for request in queue.pending:
            if request.signature == first.signature and rows + request.rows <= max_size:
                batch.append(request)
                rows += request.rows
            else:
                left.append(request)
        queue.pending[:] = left
        return batch

    def _run_batch(self, session: Runner, name: str, names: list[str], batch: list[_Request],
                   padded: Mapping[str, tuple[int, ...]]) -> None:
        started = time.perf_counter()
        record_batch(name, sum(r.rows for r in batch), [started - r.queued for r in batch])
        try:
            if len(batch) == 1:
                outputs = [session.run(names, dict(batch[0].feeds))]
            else:
                stacked = {input_name: _stack([r.feeds[input_name] for r in batch], padded.get(input_name, ()))
                           for input_name in batch[0].feeds}
                together = session.run(names, stacked)
                outputs, start = [], 0
                for request in batch:
                    outputs.append([np.array(out[start:start + request.rows]) for out in together])
                    start += request.rows
            for request, own in zip(batch, outputs, strict=True):
                request.outputs = own
        except BaseException as err:  # every request of the batch gets the error its own run would raise
            for request in batch:
                request.error = err
        for request in batch:
            request.done = True


def _rows(feeds: Mapping[str, np.ndarray]) -> int | None:
    """The batch size the feeds agree on, or None if they do not (then they run alone)."""
    sizes = {int(np.shape(array)[0]) if np.ndim(array) else -1 for array in feeds.values()}
    return sizes.pop() if len(sizes) == 1 and min(sizes) > 0 else None


def _consistent(feeds: Mapping[str, np.ndarray], dims: tuple[tuple[str, int, str], ...]) -> bool:
    """Whether the feeds agree on each named dynamic dim (input_ids and attention_mask: one "sequence").
    A V2 caller's mismatched tensors run alone, and fail as they would unbatched, instead of being padded."""
    sizes: dict[str, int] = {}
    for name, axis, dim in dims:
        array = feeds.get(name)
        if array is None or np.ndim(array) <= axis or sizes.setdefault(dim, array.shape[axis]) != array.shape[axis]:
            return False
    return True


def _signature(feeds: Mapping[str, np.ndarray], padded: Mapping[str, tuple[int, ...]]) -> tuple[Any, ...]:
    """Input names, dtypes and the dims that cannot be padded: requests stack only if these agree."""
    return tuple((name, str(array.dtype),
                  tuple(d if i not in padded.get(name, ()) else None for i, d in enumerate(array.shape) if i > 0))
                 for name, array in sorted(feeds.items()))


def _stack(arrays: list[np.ndarray], axes: tuple[int, ...]) -> np.ndarray:
    """Concatenate along axis 0, right-padding ``axes`` with 0 to the longest in the batch."""
    if axes:
        longest = {axis: max(a.shape[axis] for a in arrays) for axis in axes}
        arrays = [np.pad(a, [(0, longest[i] - n) if i in longest else (0, 0) for i, n in enumerate(a.shape)])
                  for a in arrays]
    return np.concatenate(arrays, axis=0)
