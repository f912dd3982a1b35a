"""``BROWSERML_ORT_PROVIDERS``: the ONNX Runtime execution providers sessions ask for (app/inference.py).

This machine has the CPU wheel, so asking for CUDA shows the documented fallback: the host serves on
CPUExecutionProvider, says so once in its log with what to install, and reports the provider each
session got in readiness, the catalog's ``server`` status and ``browserml_session_info``. A name ONNX
Runtime does not know stops ``browserml serve`` with the valid names. One real server start.
"""

from __future__ import annotations

import json
import threading

import onnxruntime as ort
import pytest
import requests

from app import create_app
from app.inference import parse_providers
from harness.catalog import MODELS
from harness.live_server import browserml, metric_value, serve

pytestmark = pytest.mark.catalog

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


@pytest.fixture(scope="module")
def cuda_host(tmp_path_factory):
    """``browserml serve`` asked for CUDA then CPU on the CPU wheel: (url, the lines it printed so far)."""
    assert CUDA not in ort.get_available_providers(), "this test shows the fallback of the CPU wheel"
    state = tmp_path_factory.mktemp("providers")
    process, url = serve(env={"BROWSERML_ORT_PROVIDERS": f"{CUDA},{CPU}",
                              "BROWSERML_LIFECYCLE_DB": str(state / "lifecycle.sqlite"),
                              "BROWSERML_DATABASE_URL": f"sqlite:///{state / 'feedback.sqlite'}",
                              "BROWSERML_RATE_LIMIT_PREDICT": "null"})
    lines: list[str] = []
    drain = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # a full pipe blocks it
    drain.start()
    yield url, lines
    process.terminate()
    process.wait(timeout=30)


def test_cuda_on_the_cpu_wheel_falls_back_to_cpu_says_so_once_and_reports_it(cuda_host):
    url, lines = cuda_host
    answer = requests.post(url + "/api/v1/models/sentiment/predict", json={"text": "I loved it"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["labels"][0]["label"] == "positive"

    ready = requests.get(url + "/v2/health/ready", timeout=60).json()
    assert ready["ready"] and {m["provider"] for m in ready["models"].values()} == {CPU}
    server = requests.get(url + "/api/v1/models/sentiment", timeout=10).json()["server"]
    assert server["provider"] == CPU and server["variant"]
    metrics = requests.get(url + "/metrics", timeout=10).text
    assert metric_value(metrics, "browserml_session_info", model="sentiment", variant=server["variant"],
                        provider=CPU) == 1
    assert f'provider="{CUDA}"' not in metrics

    warnings = [json.loads(line) for line in list(lines) if "ORT_PROVIDERS" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning"
    assert CUDA in warnings[0]["msg"] and "onnxruntime-gpu" in warnings[0]["msg"] and CPU in warnings[0]["msg"]


def test_a_remote_session_reports_remote(cuda_host, tmp_path):
    """A model whose tensors run on a V2 server (here: the host above) reports provider "remote"."""
    url, _ = cuda_host
    front = create_app({"MODELS_DIR": str(MODELS), "TESTING": True, "CACHE_MB": 0, "RATE_LIMIT_PREDICT": None,
                        "INFERENCE_URL": {"sentiment": url}, "LIFECYCLE_DB": str(tmp_path / "lifecycle.sqlite"),
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}"})
    client = front.test_client()
    assert client.post("/api/v1/models/sentiment/predict", json={"text": "I loved it"}).status_code == 200
    assert client.get("/api/v1/models/sentiment").get_json()["server"]["provider"] == "remote"
    assert metric_value(client.get("/metrics").get_data(as_text=True), "browserml_session_info",
                        model="sentiment", provider="remote") == 1


def test_the_default_is_cpu_and_is_reported(client):
    assert client.post("/api/v1/models/sentiment/predict", json={"text": "fine"}).status_code == 200
    server = client.get("/api/v1/models/sentiment").get_json()["server"]
    assert server["provider"] == CPU
    assert metric_value(client.get("/metrics").get_data(as_text=True), "browserml_session_info",
                        model="sentiment", variant=server["variant"], provider=CPU) == 1


def test_a_provider_name_onnx_runtime_does_not_know_stops_serve_with_the_valid_names():
    typo = browserml("serve", "--port", "1", env={"BROWSERML_ORT_PROVIDERS": f"CUDAExecutionProvidr,{CPU}"},
                     timeout=60)
    assert typo.returncode == 2, typo.stderr
    assert "'CUDAExecutionProvidr'" in typo.stderr and f"did you mean {CUDA}" in typo.stderr
    assert all(name in typo.stderr for name in ort.get_all_providers())
    assert "Traceback" not in typo.stderr


def test_the_provider_list_is_checked_and_cpu_stays_last():
    assert parse_providers(CPU) == [CPU]
    assert parse_providers(f" {CUDA} ") == [CUDA, CPU]  # CPU appended: always the last fallback
    assert parse_providers([CUDA, CPU]) == [CUDA, CPU]  # a JSON list, as BROWSERML_* values parse
    with pytest.raises(ValueError, match="Put CPUExecutionProvider last"):
        parse_providers(f"{CPU},{CUDA}")
    with pytest.raises(ValueError, match="does not know"):
        create_app({"MODELS_DIR": str(MODELS), "ORT_PROVIDERS": "cuda"})
