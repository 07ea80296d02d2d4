"""`saliency serve`: the model as a local web service and page.

The model is loaded once; POST a photo to /map, /mask or /cutout and get a PNG of the photo's
size back; /health says which model runs where; / is a page to try it in a browser; /docs is the
OpenAPI description. Binds to 127.0.0.1 unless --host says otherwise. Needs the `serve` extra
(`pip install "gan-saliency[serve]"`: FastAPI and uvicorn).
"""

from __future__ import annotations

import argparse

from saliency.commands.common import non_negative_int, positive_float, positive_int
from saliency.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes the service to your network")
    p.add_argument("--port", type=positive_int, default=8000, help="TCP port")
    p.add_argument("--model", default="shipped", help="'shipped', a `saliency train-unet` file, a baseline (e.g. wctr) or a fusion")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (CUDA absent: a warning, then the CPU)")
    p.add_argument("--workers", type=positive_int, default=1, help="threads running the model at once (others wait in the queue)")
    p.add_argument(
        "--queue", type=non_negative_int, default=16, help="requests that may wait for a worker; past that the server answers 503"
    )
    p.add_argument("--max-upload-mb", type=positive_float, default=25, help="largest request body accepted (HTTP 413 past it)")
    p.add_argument(
        "--max-megapixels", type=positive_float, default=40, help="largest image accepted, read from its header (HTTP 413 past it)"
    )


def run(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from saliency.server.app import create_app
    except ImportError as e:
        raise UserError(f'saliency serve needs the serve extra ({e.name} is missing): pip install "gan-saliency[serve]"') from None
    from saliency.api import load
    from saliency.device import describe
    from saliency.server.uploads import Limits

    if args.workers < 1 or args.queue < 0:
        raise UserError(f"--workers must be at least 1 and --queue at least 0 (got {args.workers} and {args.queue})")
    model_file = args.model
    if args.model == "shipped":
        from saliency.unet.model import shipped_model

        model_file = str(shipped_model())
    model = load(args.model, args.device)
    limits = Limits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=int(args.max_megapixels * 1e6))
    app = create_app(model, limits, args.workers, args.queue, model_file)
    print(f"model: {model.name} ({model_file})")
    print(f"device: {describe(model.device)}; {args.workers} worker(s), queue {args.queue}")
    print(f"serving on http://{args.host}:{args.port}/  (API docs: http://{args.host}:{args.port}/docs; Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
