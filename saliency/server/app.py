"""The HTTP API and page of `saliency serve`, as an ASGI app (FastAPI).

One model, loaded once, answers every request. Inference runs on a fixed pool of `workers`
threads; at most `queue` more requests wait for one, and a request beyond that is told to come
back (503) instead of holding its photo in memory: memory is bounded by workers + queue
photos, whatever the load. Each photo is decoded inside a worker, after its size is checked
(saliency.server.uploads), and only PNG bytes go back: nothing is written to disk.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from typing import Literal

import cv2
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from saliency import __version__
from saliency.api import Model
from saliency.cutout import OUTPUTS, render
from saliency.device import describe
from saliency.server.uploads import Limits, UploadRejected, check_declared_length, decode_photo, photo_bytes, read_limited

PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "description": "the photo: the raw file as the body, or a multipart form with the field 'file'",
        "content": {
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
        },
    },
    "responses": {
        "200": {"content": {"image/png": {}}, "description": "a PNG of the photo's size"},
        "400": {"description": "empty, truncated or corrupt upload"},
        "413": {"description": "over the upload or pixel limit"},
        "415": {"description": "not an image"},
        "503": {"description": "every worker busy and the queue full: retry later"},
    },
}


def create_app(model: Model, limits: Limits | None = None, workers: int = 1, queue: int = 16, model_file: str | None = None) -> FastAPI:
    """The app for `model`; `workers` threads run it, `queue` requests may wait for one."""
    limits = limits or Limits()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="saliency-worker")
    variants: dict[tuple[str, str], Model] = {}
    state = {"admitted": 0, "served": 0}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="saliency",
        version=__version__,
        description="Label-free salient object detection: maps, masks and cut-outs of your photos at their full resolution.",
        lifespan=lifespan,
    )

    def run_model(data: bytes, kind: str, threshold: float, tta: str, upsample: str) -> bytes:
        image = decode_photo(data, limits)
        key = (tta, upsample)
        if key not in variants:
            variants[key] = model.with_options(tta, upsample)
        soft = variants[key].map(image)
        ok, buf = cv2.imencode(".png", render(kind, image, soft, threshold))
        if not ok:
            raise UploadRejected(500, "could not encode the result as PNG")
        return buf.tobytes()

    async def answer(request: Request, kind: str, threshold: float, tta: str, upsample: str) -> Response:
        if state["admitted"] >= workers + queue:
            return refuse(UploadRejected(503, f"busy: {workers} worker(s) and a queue of {queue} are full; retry shortly"), retry=True)
        state["admitted"] += 1
        try:
            check_declared_length(request.headers.get("content-length"), limits)
            data = photo_bytes(await read_limited(request.stream(), limits), request.headers.get("content-type"))
            png = await asyncio.get_running_loop().run_in_executor(pool, run_model, data, kind, threshold, tta, upsample)
        except UploadRejected as e:
            return refuse(e)
        finally:
            state["admitted"] -= 1
        state["served"] += 1
        return Response(png, media_type="image/png")

    def add_route(kind: str) -> None:
        async def endpoint(
            request: Request,
            threshold: float = Query(0.5, ge=0, le=1, description="mask and cut-out: the map's threshold"),
            tta: Literal["auto", "none", "flip"] = Query("auto", description="test-time augmentation (auto: as the model file says)"),
            upsample: Literal["guided", "bilinear"] = Query(
                "guided", description="map to full size: following the photo's edges, or a plain resize"
            ),
        ) -> Response:
            return await answer(request, kind, threshold, tta, upsample)

        summary = {
            "map": "soft saliency map (grey PNG)",
            "mask": "object mask (0/255 PNG)",
            "cutout": "RGBA cut-out, background transparent",
        }
        app.post(f"/{kind}", summary=summary[kind], response_class=Response, openapi_extra=PHOTO_BODY)(endpoint)

    for kind in OUTPUTS:
        add_route(kind)

    @app.get("/health", summary="model, device, version and limits")
    async def health() -> dict:
        return {
            "status": "ok",
            "model": model.name,
            "model_file": model_file,
            "device": describe(model.device),
            "version": __version__,
            "workers": workers,
            "queue": queue,
            "limits": asdict(limits),
            "served": state["served"],
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return resources.files("saliency.server").joinpath("page.html").read_text(encoding="utf-8")

    return app


def refuse(error: UploadRejected, retry: bool = False) -> JSONResponse:
    """An error as JSON: {"error": one line, and the limit where one was passed}."""
    headers = {"Retry-After": "1"} if retry else None
    return JSONResponse({"error": error.message, **error.details}, status_code=error.status, headers=headers)
