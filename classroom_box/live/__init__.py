"""The live layer: what a connected device sees over Socket.IO, and in what order.

Owns connection admission, rooms, catch-up (replay-then-live), fan-out, presence, client events,
flood control and every reach below python-socketio's public API. It reads the domain (the event
log, logins, classes) and must never import `web`: HTTP and sockets meet only in the domain.
"""
