"""What the tests and the benchmarks share (and the product does not ship): the converted
catalog on disk, a real HTTP server around an app, Debian's Chromium, and the browser
harness that runs models through ``/lib/browserml.js`` and compares with the server.

``tests/`` and ``bench/`` both import this package; neither imports the other.
"""
