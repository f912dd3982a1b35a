"""Remote inference: a model's raw tensors run on a V2 (Open Inference Protocol) server.

With ``INFERENCE_URL`` set (one URL for every model, or ``{"<model>": "<url>"}`` for some),
``SessionPool`` hands out a ``RemoteSession`` instead of an ONNX Runtime session for those
models. Only ``session.run`` crosses the network, to
``/v2/models/<name>/versions/<version>/infer`` of Triton, KServe or another browserml host
(tritonclient.http, binary tensor data both ways). Everything else stays on this host: input
decoding, ``contract.tasks`` pre- and post-processing, which version answers, auth, limits,
metrics and logs. Heavy models can then run on GPUs while Flask stays thin.

The remote runs the variant it serves (Triton/KServe: the one in its repository, as
``browserml export-triton`` writes it; browserml: its own server variant), taken to be the
manifest's server recommendation: responses name that variant, and the session is
self-checked against that variant's references, within the self-check's tolerance, at first
use like a local one. A remote answering other numbers is refused with the reason.

Errors: a remote that cannot be reached or times out (``INFERENCE_TIMEOUT`` seconds), or
that answers an error, is a 503 naming the model (``BackendError``); it is not a self-check
verdict, so the next request tries again. The configured URL may hold credentials
(``http://user:password@host:8000``, sent as HTTP basic auth): it never appears in errors,
logs or status, only ``shown`` (scheme, host, port and path).

tritonclient's HTTP client is gevent-based and not thread-safe: each thread has its own
client per backend (gunicorn's gthread workers keep their threads, so connections are reused).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from app.errors import ApiError
from app.registry import ModelVersion
from app.tensor_codec import v2_datatype

log = logging.getLogger("browserml")


class BackendError(ApiError):
    """The remote inference backend could not answer: 503, never a self-check verdict."""


@dataclass(frozen=True)
class TensorInfo:
    """What ``get_inputs()``/``get_outputs()`` describe, as ONNX Runtime's NodeArg does."""

    name: str
    shape: list[int | str]
    type: str  # the manifest dtype, e.g. "float32"


class Backend:
    """One V2 server: its URL (kept private) and one tritonclient per thread."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("INFERENCE_URL must be an http:// or https:// URL with a host, "
                             "e.g. http://triton:8000")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        location = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}{parts.path.rstrip('/')}"
        self.shown = f"{parts.scheme}://{location}"  # no credentials, no query: safe to show
        self._location = location
        self._ssl = parts.scheme == "https"
        self._auth = (unquote(parts.username or ""), unquote(parts.password or "")) if parts.username else None
        self.timeout = float(timeout)
        self._local = threading.local()

    def client(self) -> Any:
        """This thread's tritonclient for the backend (created on first use)."""
        client = getattr(self._local, "client", None)
        if client is None:
            import tritonclient.http as httpclient  # type: ignore[import-untyped]

            client = httpclient.InferenceServerClient(
                self._location, ssl=self._ssl, connection_timeout=self.timeout, network_timeout=self.timeout)
            if self._auth:
                from tritonclient.http.auth import BasicAuth  # type: ignore[import-untyped]

                client.register_plugin(BasicAuth(*self._auth))
            self._local.client = client
        return client

    def forget_client(self) -> None:
        """Drop this thread's client (after a network error its connection may be broken)."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken connection may fail too; it is gone either way
                pass


class Backends:
    """Which models run remotely, parsed from ``INFERENCE_URL`` and ``INFERENCE_TIMEOUT``."""

    def __init__(self, setting: str | Mapping[str, str], timeout: float) -> None:
        if not timeout or float(timeout) <= 0:
            raise ValueError(f"INFERENCE_TIMEOUT must be a positive number of seconds, got {timeout!r}")
        by_url: dict[str, Backend] = {}

        def backend(url: Any) -> Backend:
            if not isinstance(url, str):
                raise ValueError("INFERENCE_URL must be a URL or a JSON object mapping model names to URLs")
            if url not in by_url:
                by_url[url] = Backend(url, float(timeout))
            return by_url[url]

        self._all: Backend | None = None
        self._by_model: dict[str, Backend] = {}
        if isinstance(setting, str):
            self._all = backend(setting)
        elif isinstance(setting, Mapping):
            self._by_model = {str(name): backend(url) for name, url in setting.items()}
        else:
            raise ValueError("INFERENCE_URL must be a URL or a JSON object mapping model names to URLs")

    def backend(self, model: str) -> Backend | None:
        """The backend running ``model``'s inference, or None when it runs here."""
        return self._by_model.get(model, self._all)


def backends_from_config(config: Mapping[str, Any]) -> Backends | None:
    """``Backends`` for ``INFERENCE_URL`` (None when unset: every model runs here)."""
    setting = config.get("INFERENCE_URL")
    if not setting:
        return None
    return Backends(setting, config.get("INFERENCE_TIMEOUT") or 30)


def backends_from_env() -> Backends | None:
    """``Backends`` from ``BROWSERML_INFERENCE_URL``/``_TIMEOUT`` (JSON-parsed as Flask's config is),
    for processes without an app, such as ``browserml worker``."""
    from app.config import setting

    return backends_from_config({key: setting(key) for key in ("INFERENCE_URL", "INFERENCE_TIMEOUT")})


class RemoteSession:
    """A model version's inference on a V2 server, with the surface of an ONNX Runtime session
    that ``app.inference`` uses: ``run(output_names, feeds)``, ``get_inputs()``, ``get_outputs()``."""

    def __init__(self, backend: Backend, model: ModelVersion, variant: str) -> None:
        self.backend = backend
        self.model_name = model.name
        self.model_version = str(model.version)
        self.variant = variant
        self.label = f"{model.name} v{model.version}"
        self._inputs = [TensorInfo(s["name"], s["shape"], s["dtype"]) for s in model.manifest["inputs"]]
        self._outputs = [TensorInfo(s["name"], s["shape"], s["dtype"]) for s in model.manifest["outputs"]]

    def get_inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self._outputs)

    def run(self, output_names: list[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """POST ``feeds`` to the backend's infer route; the outputs named, in that order."""
        import gevent  # type: ignore[import-untyped]
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

        names = list(output_names or [o.name for o in self._outputs])
        inputs = []
        for spec in self._inputs:
            array = np.ascontiguousarray(feeds[spec.name])
            tensor = httpclient.InferInput(spec.name, list(array.shape), v2_datatype(str(array.dtype)))
            tensor.set_data_from_numpy(array, binary_data=True)
            inputs.append(tensor)
        wanted = [httpclient.InferRequestedOutput(name, binary_data=True) for name in names]
        try:
            result = self.backend.client().infer(self.model_name, inputs, model_version=self.model_version,
                                                 outputs=wanted)
        except InferenceServerException as err:
            status, message = err.status(), (err.message() or "no message")[:300]
            if status is None:  # raised by the client itself (e.g. it cannot read the response)
                self.backend.forget_client()
                raise self._unreachable(message) from None
            log.warning("inference backend %s answered %s for %s: %s", self.backend.shown, status, self.label,
                        message)
            raise BackendError(503, f"the inference backend of {self.label} answered {status}: {message} "
                                    "Ask the operator to check the remote inference server.",
                               headers={"Retry-After": "5"}) from None
        except (OSError, socket.timeout, gevent.Timeout) as err:  # refused, unreachable, reset, timed out
            self.backend.forget_client()
            raise self._unreachable(err) from None
        except Exception as err:  # geventhttpclient's own errors (a cut or malformed response) are not OSErrors
            if type(err).__module__.split(".")[0] not in ("gevent", "geventhttpclient"):
                raise
            self.backend.forget_client()
            raise self._unreachable(err) from None
        outputs = []
        for name in names:
            array = result.as_numpy(name)
            if array is None:
                raise BackendError(503, f"the inference backend of {self.label} answered without output "
                                        f"{name!r}; it does not serve the model this host has.")
            outputs.append(array)
        return outputs

    def _unreachable(self, err: Any) -> BackendError:
        timed_out = isinstance(err, (TimeoutError, socket.timeout)) or "timed out" in str(err).lower() \
            or type(err).__name__ == "Timeout"
        why = f"no answer within {self.backend.timeout:g} s" if timed_out else _reason(err)
        log.error("inference backend %s unreachable for %s: %s", self.backend.shown, self.label, why)
        return BackendError(503, f"the inference backend of {self.label} is unreachable ({why}); "
                                 "try again later, or ask the operator to check the remote inference server.",
                            headers={"Retry-After": "5"})


def _reason(err: Any) -> str:
    """A short cause without addresses: 'connection refused', 'name not known', the error type."""
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return "host name not known"
    if isinstance(err, ConnectionError):
        return "connection lost"
    return type(err).__name__ if not isinstance(err, str) else "no valid response"


def remote_session(backend: Backend, model: ModelVersion, file: str) -> RemoteSession:
    """The remote session of ``model`` if ``file`` is the variant the remote runs (the manifest's
    server recommendation); otherwise a 503 saying which variant the remote serves."""
    served = model.server_candidates[0] if model.server_candidates else None
    if file != served:
        raise ApiError(503, f"{model.name} v{model.version} runs on a remote inference backend, which serves "
                            f"{served or 'no variant'} (the manifest's server recommendation); {file} is not "
                            "served here.")
    return RemoteSession(backend, model, file)
