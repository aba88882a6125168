"""Benchmark peer: Flask-SocketIO on eventlet (the stack the project started from), in memory.

Contract: scripts/bench_peers/README.md. eventlet must patch the standard library before Flask
and Flask-SocketIO are imported, hence the late imports.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import itertools  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins="*")
counter = itertools.count(1)


def room_of(data: dict) -> str:
    return f"classroom:{data['class_id']}:{data['section_id']}"


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/api/lecture/progress")
def progress():
    data = request.get_json(force=True)
    seq = next(counter)
    socketio.emit("lecture_progress_update", {**data, "seq": seq}, to=room_of(data))
    return jsonify(ok=True, seq=seq)


@socketio.on("join_classroom")
def join_classroom(data):
    join_room(room_of(data))
    return {"ok": True}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9102)
    socketio.run(app, host="127.0.0.1", port=parser.parse_args().port, log_output=False)
