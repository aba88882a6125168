"""Benchmark peer: a bare python-socketio AsyncServer on uvicorn, in memory.

The box's own stack with nothing of the box in it, so the benchmark can tell the stack's cost
from the box's. Contract: scripts/bench_peers/README.md. Environment: UVICORN_WS picks uvicorn's
websocket implementation, DEFLATE=0 turns permessage-deflate off.
"""

import argparse
import itertools
import json
import os

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
counter = itertools.count(1)


def room_of(data: dict) -> str:
    return f"classroom:{data['class_id']}:{data['section_id']}"


async def read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def lifespan(receive, send) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def http_app(scope, receive, send) -> None:
    """/healthz and /api/lecture/progress; everything else is 404."""
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    body = await read_body(receive)
    status, out = 404, {}
    if scope["path"] == "/api/lecture/progress" and scope["method"] == "POST":
        data = json.loads(body)
        seq = next(counter)
        await sio.emit("lecture_progress_update", {**data, "seq": seq}, room=room_of(data))
        status, out = 200, {"ok": True, "seq": seq}
    elif scope["path"] == "/healthz":
        status, out = 200, {"status": "ok"}
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(out).encode()})


@sio.on("join_classroom")
async def join_classroom(sid, data):
    await sio.enter_room(sid, room_of(data))
    return {"ok": True}


app = socketio.ASGIApp(sio, other_asgi_app=http_app)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9103)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning",
                ws=os.environ.get("UVICORN_WS", "auto"),
                ws_per_message_deflate=os.environ.get("DEFLATE", "1") == "1")
