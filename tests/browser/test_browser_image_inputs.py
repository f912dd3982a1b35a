"""Every kind of image input reaches the worker as the same pixels, read once (issue 12 item 3).

A Blob, an ImageData, an ImageBitmap, a VideoFrame and a canvas of one PNG must give one and
the same face-detector result in the browser, equal to the server's on that PNG; `transfer`
hands the caller's ImageData buffer, bitmap or frame to the worker (detached/closed here), and
without it the caller's input is left as it was. `model.lastTimings` says where the run went.
"""

from __future__ import annotations

import pytest

from harness.browser import assert_agrees, catalog_samples, manifest_of, server_predict, tolerance_for

pytestmark = [pytest.mark.catalog, pytest.mark.browser]
SAMPLES = catalog_samples()

INPUTS_JS = """
async ({png}) => {
  const lib = await import('/lib/browserml.js');
  const model = await lib.loadModel('face-detector', {backend: 'wasm'});
  const blob = new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], {type: 'image/png'});
  const pixelsOf = async () => {
    const bitmap = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    return canvas.getContext('2d').getImageData(0, 0, bitmap.width, bitmap.height);
  };
  const strip = ({faces}) => ({faces});
  const out = {results: {}, after: {}};
  out.results.blob = strip(await model.run(blob));
  out.timings = model.lastTimings;

  const imageData = await pixelsOf();
  out.results.imageData = strip(await model.run(imageData));
  out.after.imageData = imageData.data.length;               // kept: cloned, not transferred
  const handed = await pixelsOf();
  out.results.imageDataTransferred = strip(await model.run(handed, {transfer: true}));
  out.after.imageDataTransferred = handed.data.length;       // detached: 0

  const bitmap = await createImageBitmap(blob);
  out.results.bitmap = strip(await model.run(bitmap));
  out.after.bitmap = bitmap.width;                           // still open
  out.results.bitmapTransferred = strip(await model.run(bitmap, {transfer: true}));
  out.after.bitmapTransferred = bitmap.width;                // closed: 0

  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width || imageData.width;
  canvas.height = imageData.height;
  canvas.getContext('2d').putImageData(imageData, 0, 0);
  out.results.canvas = strip(await model.run(canvas));

  if (typeof VideoFrame !== 'undefined') {
    const frame = new VideoFrame(await createImageBitmap(blob), {timestamp: 0});
    out.results.videoFrame = strip(await model.run(frame));
    out.after.videoFrame = frame.format !== null;            // the caller's frame is still open
    out.results.videoFrameTransferred = strip(await model.run(frame, {transfer: true}));
    out.after.videoFrameTransferred = frame.format === null; // closed by the transfer
  }
  // A transparent bitmap right after a photo of the same size: the worker's reused canvas must not
  // show the photo through it (transparent is black, as an ImageData of zeros).
  await model.run(await createImageBitmap(blob));
  const clear = new ImageData(imageData.width, imageData.height);
  out.transparent = strip(await model.run(await createImageBitmap(clear)));
  out.zeros = strip(await model.run(clear));
  out.variant = model.variant;
  await model.dispose();
  return out;
}
"""


def test_every_image_input_gives_the_servers_result(page, site):
    page.goto(f"{site.url}/?sw=off")
    answer = page.evaluate(INPUTS_JS, {"png": SAMPLES["face-detector"].js_input()["png"]})
    results = answer["results"]
    assert {"blob", "imageData", "imageDataTransferred", "bitmap", "bitmapTransferred", "canvas",
            "videoFrame", "videoFrameTransferred"} <= set(results)
    assert results["blob"]["faces"], "the astronaut has a face"
    for kind, result in results.items():
        assert result == results["blob"], f"{kind} gave another result than the Blob"
    want = server_predict(site.url, "face-detector", SAMPLES["face-detector"], answer["variant"])
    assert_agrees(results["blob"], want, "face-detector", tolerance_for(manifest_of(site.url, "face-detector"),
                                                                        answer["variant"]))
    assert answer["after"] == {"imageData": 512 * 512 * 4, "imageDataTransferred": 0, "bitmap": 512,
                               "bitmapTransferred": 0, "videoFrame": True, "videoFrameTransferred": True}
    assert answer["transparent"] == answer["zeros"] == {"faces": []}
    timings = answer["timings"]
    steps = ("input", "toWorker", "pixels", "prepare", "infer", "finish", "fromWorker")
    assert set(timings) == {*steps, "total"}
    assert all(timings[s] >= 0 for s in steps if s not in ("toWorker", "fromWorker"))
    assert timings["total"] >= timings["infer"] + timings["prepare"]
