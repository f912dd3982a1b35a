"""Debian's Chromium and the flags every browser test and benchmark launches it with."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("BROWSERML_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # WebGPU exists here only like this, as a SwiftShader fallback adapter: the runtime
    # must not choose it on its own, and the webgpu tests force it.
    "--enable-unsafe-webgpu",
]
