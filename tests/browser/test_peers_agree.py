"""The peer benchmark compares like with like: in one page, browserml and its peers
(Transformers.js on browserml's own ONNX files, MediaPipe on BlazeFace with the metadata
``harness/peers.py`` writes) give the same answers on the same inputs.

Uses the bench's own setup (``harness/peers.py``): it installs the exact-pinned peers
in bench/peers with ``npm ci --ignore-scripts`` when they are missing (about 15 s from the
npm registry, once), assembles the peers' model folders from the converted catalog and
serves everything from one host on loopback. The face test needs the ``bench`` extra
(``mediapipe``, for the TFLite metadata schema).
"""

from __future__ import annotations

import importlib.util

import pytest

from harness import peers
from harness.browser import catalog_samples
from harness.live_server import LiveServer

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()
SAMPLE_OF = {"text": SAMPLES["text-embedder"], "imagenet": SAMPLES["imagenet"], "face": SAMPLES["face-detector"]}


@pytest.fixture(scope="module")
def peer_site(tmp_path_factory):
    peers.install_peers()
    models = tmp_path_factory.mktemp("peer-models")
    has_face = importlib.util.find_spec("mediapipe") is not None  # the bench extra
    peers.assemble_models(models, face=has_face)
    server = LiveServer(peers.bench_app(models))
    yield server, has_face
    server.close()


@pytest.mark.parametrize(("task", "precision"), [("text", "int8 (dynamic)"), ("imagenet", "fp32")])
def test_transformers_js_gives_browserml_s_answers_on_browserml_s_files(browser, peer_site, task, precision):
    site, _ = peer_site
    case = next(c for c in peers.cases([task], 1) if c.label.startswith(precision))
    peers.steady_block(browser, site.url, case, SAMPLE_OF[task], warmup=1, runs=1, blocks=1)
    assert not case.error, case.error
    ours, theirs = case.results[("browserml", case.kinds[0])], case.results[("peer", case.kinds[0])]
    ok, detail = peers.agreement(task, ours, theirs)
    assert ok, detail
    assert case.info["browserml"]["threads"] == case.info["peer"]["threads"] == 1
    assert case.info["browserml"]["isolated"] and case.info["peer"]["isolated"]
    if task == "text":  # padded to the longest sentence as browserml pads, not to tokenizer.json's fixed 128
        assert theirs["input_shape"][0] == len(SAMPLE_OF["text"].texts) and theirs["input_shape"][1] < 32


def test_mediapipe_finds_browserml_s_faces_with_the_metadata_the_bench_writes(browser, peer_site):
    site, has_face = peer_site
    if not has_face:
        pytest.skip("the bench extra (mediapipe) is not installed: pip install -c requirements/constraints.txt "
                    "-e '.[bench]'")
    rows = peers.face_photos(browser, site.url, SAMPLES)
    assert {(name, kind) for name, kind, _, _ in rows} == {
        (name, kind) for name in ("imagenet", "face-detector", "emotion") for kind in ("imagedata", "img")}
    for name, kind, ours, theirs in rows:
        ok, detail = peers.agreement("face", ours, theirs)
        assert ok, f"{name} from {kind}: {detail}"
        if name == "face-detector":
            assert len(theirs["faces"]) == 1  # the astronaut
