"""What predict returns is what the manifest's response schema says, for one input and for a list."""

from __future__ import annotations

import io

import jsonschema
import pytest

from harness.catalog import CATALOG

pytestmark = pytest.mark.catalog

TEXTS = ["I loved every minute of it.", "Cold food, slow service."]


def _requests(name: str, photos) -> list[dict]:
    if name in ("sentiment", "text-embedder"):
        return [{"json": {"text": TEXTS[0]}}, {"json": {"texts": TEXTS}}]
    return [{"data": {"image": (io.BytesIO(photos["astronaut.jpg"]), "a.jpg")}}]


@pytest.mark.parametrize("name", CATALOG)
def test_predict_responses_match_the_manifest_response_schema(client, photos, name):
    manifest = client.get(f"/api/v1/models/{name}").json
    for kwargs in _requests(name, photos):
        response = client.post(f"/api/v1/models/{name}/predict", **kwargs)
        assert response.status_code == 200, response.json
        jsonschema.validate(response.json, manifest["response"])
        if "json" in kwargs:  # and what we sent is what the request schema describes
            jsonschema.validate(kwargs["json"], manifest["request"])


def test_a_wrong_shape_fails_the_schema(client):
    manifest = client.get("/api/v1/models/sentiment").json
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"labels": "positive"}, manifest["response"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"results": [{"labels": []}]}, manifest["response"])
