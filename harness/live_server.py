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
