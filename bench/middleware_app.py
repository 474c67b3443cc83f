"""GET /pricing behind the request logger as it is (pure ASGI) or as it was before issue 11
(`BaseHTTPMiddleware`, commit 88ca000^), for the before/after of issue 15:
`python -m bench.middleware_app --kind asgi|base --port P`."""

from __future__ import annotations

import argparse
import json
import time


async def _old_log_request(request, call_next):
    """shared/app.py's request logger before 88ca000, verbatim but for the names it imported."""
    from shared.app import _fields, log

    started = time.perf_counter()
    fields = _fields(request)
    response = await call_next(request)
    fields.setdefault("outcome", "ok" if response.status_code < 400 else "error")
    log.info(json.dumps({
        "event": "request", "method": request.method, "path": request.url.path,
        "status": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        **fields,
    }))
    return response


def main() -> None:
    import uvicorn
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    from functions import account
    from shared.app import _RequestLog, create_app
    from wan_local.dev import _ContractH11Protocol

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=("asgi", "base"), required=True)
    args = parser.parse_args()
    app = create_app(account.router())
    if args.kind == "base":  # the stack is built on the first request, from this list
        app.user_middleware = [Middleware(BaseHTTPMiddleware, dispatch=_old_log_request) if m.cls is _RequestLog else m
                               for m in app.user_middleware]
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", log_config=None, access_log=False,
                http=_ContractH11Protocol)


if __name__ == "__main__":
    main()
