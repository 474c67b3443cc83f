"""The latency floors of issue 15: the same I/O as our endpoints, by hand, in a bare ASGI app.

- `POST /create`: two one-statement transactions and one raw HTTP/1.1 POST of a create's body to the
  (standalone) Replicate emulator: the I/O of POST /text-to-video with none of our code.
- `POST /create-client`: the same, but the POST made through our ReplicateProvider (the official
  `replicate` client, sync, on a worker thread, as our handler makes it): its gap to `/create` is the
  price of the official client.
- `GET /one`: one one-statement transaction: the I/O of GET /status and of the Replicate webhook.
- `GET /one-thread`: the same from a sync function on a worker thread over a sync pool, as our sync
  handlers run: its gap to `/one` is what async handlers over an async pool could save at most.
- `GET /fastapi-one`: the same sync statement as the handler of a one-route FastAPI app (response
  model, worker thread): the framework's own cost, our code's none (no auth, middleware or logging).

Run by bench/__main__.py as `python -m bench.floor_app --port P --database-url U --emulator-port E`
under uvicorn with the server settings of the local stack (h11, no access log).
"""

from __future__ import annotations

import argparse
import asyncio
import json

STATEMENT = "select 1"


class RawPoster:
    """HTTP/1.1 POSTs over kept-alive sockets (a connection is reused once its answer is read)."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.idle = host, port, []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
                   f"content-length: {len(body)}\r\n{head}\r\n").encode() + body
        while self.idle:  # a kept-alive socket the server may have closed meanwhile (uvicorn: after 5 s)
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                writer.close()
        return await self._exchange(*await asyncio.open_connection(self.host, self.port), request)

    async def _exchange(self, reader, writer, request: bytes) -> tuple[int, bytes]:
        writer.write(request)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        answer = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, answer


def build(database_url: str, emulator_port: int, webhook: str):
    import psycopg_pool

    from shared import catalog

    # The pools as shared/db.py makes its own: autocommit, no checkout check, no prepared statements.
    kwargs = {"autocommit": True, "prepare_threshold": None}
    pools: dict = {}
    poster = RawPoster("127.0.0.1", emulator_port)
    variant = catalog.variant("t2v-14B", "480p")
    from shared.replicate_provider import ReplicateProvider

    provider = ReplicateProvider("r8_bench", f"http://127.0.0.1:{emulator_port}")
    path = f"/v1/models/{variant.replicate_model}/predictions"

    async def one_statement() -> None:
        async with pools["async"].connection() as conn:
            await (await conn.execute(STATEMENT)).fetchone()

    def one_statement_sync() -> None:
        with pools["sync"].connection() as conn:
            conn.execute(STATEMENT).fetchone()

    framework = _framework_floor(one_statement_sync)

    async def answer(send, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pools["async"] = psycopg_pool.AsyncConnectionPool(database_url, min_size=1, max_size=10,
                                                                      kwargs=kwargs, open=False)
                    await pools["async"].open()
                    pools["sync"] = psycopg_pool.ConnectionPool(database_url, min_size=1, max_size=10,
                                                                kwargs=kwargs, open=True)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await pools["async"].close()
                    pools["sync"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/fastapi-one":
            return await framework(scope, receive, send)
        while (await receive()).get("more_body"):  # read the request body, as a handler does
            pass
        if scope["path"] in ("/create", "/create-client"):
            await one_statement()  # the charge
            prediction_input = catalog.replicate_input(variant, prompt="a fox", negative_prompt=None, seed=None,
                                                       aspect_ratio=None, image_url=None)
            if scope["path"] == "/create":
                body = {"input": prediction_input, "webhook": webhook, "webhook_events_filter": ["start", "logs", "completed"]}
                status, raw = await poster.post(path, json.dumps(body).encode(),
                                                {"authorization": "Bearer r8_bench", "cancel-after": "2700s"})
                prediction_id = json.loads(raw).get("id")
            else:
                from starlette.concurrency import run_in_threadpool

                status, prediction_id = 201, (await run_in_threadpool(
                    provider.create, variant, prediction_input, webhook, cancel_after_seconds=2700)).id
            await one_statement()  # recording the prediction id
            return await answer(send, 202, {"status": status, "id": prediction_id})
        if scope["path"] == "/one":
            await one_statement()
            return await answer(send, 200, {"ok": True})
        if scope["path"] == "/one-thread":
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(one_statement_sync)
            return await answer(send, 200, {"ok": True})
        return await answer(send, 404, {"detail": "no such floor"})

    return app


def _framework_floor(one_statement_sync):
    from fastapi import FastAPI
    from pydantic import BaseModel

    class One(BaseModel):
        ok: bool

    app = FastAPI()

    @app.get("/fastapi-one", response_model=One)
    def one() -> dict:  # sync, so FastAPI runs it on a worker thread, as ours run
        one_statement_sync()
        return {"ok": True}

    return app


def main() -> None:
    import uvicorn

    from wan_local.dev import _ContractH11Protocol

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--emulator-port", type=int, required=True)
    args = parser.parse_args()
    app = build(args.database_url, args.emulator_port, "http://127.0.0.1:9/webhooks/replicate?generation_id=x")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", log_config=None, access_log=False,
                http=_ContractH11Protocol)


if __name__ == "__main__":
    main()
