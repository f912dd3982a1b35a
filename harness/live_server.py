"""A real HTTP server (Werkzeug, threaded) around an app, on a free port, in a thread."""

from __future__ import annotations

import threading
from typing import Any


class LiveServer:
    """``LiveServer(app).url``; ``close()`` shuts it down."""

    def __init__(self, flask_app: Any) -> None:
        from werkzeug.serving import make_server

        self.app = flask_app
        self._server = make_server("127.0.0.1", 0, flask_app, threaded=True)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(*args: str, env: dict[str, str] | None = None, scheme: str = "http", verify: str | bool = True,
          seconds: float = 60) -> tuple[Any, str]:
    """``browserml serve --port <free> --models-dir models <args>`` in a subprocess (stdout and stderr
    together, as text), once ``/v2/health/ready`` answers 200: ``(process, url)``. The caller stops it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    from harness.catalog import MODELS, ROOT

    port = free_port()
    cli = Path(sys.executable).with_name("browserml")
    process = subprocess.Popen([str(cli), "serve", "--port", str(port), "--models-dir", str(MODELS), *args],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **(env or {})})
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}: {output}")
        try:
            if requests.get(url + "/v2/health/ready", timeout=5, verify=verify).status_code == 200:
                return process, url
        except requests.exceptions.RequestException:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError(f"{url} not ready after {seconds} s")


def start_redis(folder: Any) -> tuple[Any, str]:
    """Debian's redis-server on a free port, no persistence, data in ``folder``, once it answers:
    ``(process, "redis://127.0.0.1:<port>/0")``. The caller stops it. RuntimeError if it cannot."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found; install it: apt-get install -y redis-server (make test does)")
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            return server, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


def browserml(*args: str, env: dict[str, str] | None = None, cwd: Any = None, timeout: float = 120,
              defaults: bool = False) -> Any:
    """``python -m cli <args>`` as an operator runs it (stdout and stderr captured as text):
    ``env`` adds variables; ``defaults`` first drops the caller's ``BROWSERML_*`` settings."""
    import os
    import subprocess
    import sys

    from harness.catalog import ROOT

    base = {k: v for k, v in os.environ.items() if not (defaults and k.startswith("BROWSERML_"))}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})})


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one series in a ``/metrics`` text (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0
