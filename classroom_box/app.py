"""How it is wired: `create_app(settings)` builds a fresh box (Quart + Socket.IO) with no globals.
It owns the wiring and the lifespan, and must never hold a module-level app, server or box (every
test gets a fresh one) nor logic that belongs to a layer.

Start-up and shutdown live in Quart's `before_serving`/`after_serving`, which `socketio.ASGIApp`
forwards the ASGI lifespan to (we pass it no hooks of its own for exactly that reason).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import socketio
from quart import Quart

from classroom_box.config import Settings
from classroom_box.domain import idempotency
from classroom_box.domain.accounts import SetupToken
from classroom_box.domain.attendance import AttendanceRecorder, shift_open_intervals
from classroom_box.domain.auth import shift_token_times
from classroom_box.domain.autoend import AutoEnd
from classroom_box.domain.classes import Classes
from classroom_box.domain.clock import Clock
from classroom_box.domain.events import Event, EventLog, Publisher
from classroom_box.domain.lectures import Lectures, section_state, shift_live_starts
from classroom_box.domain.management import Management
from classroom_box.domain.participation import Participation
from classroom_box.domain.questions import Questions
from classroom_box.domain.ratelimit import FailureThrottle, KeyedBuckets, LoginThrottle
from classroom_box.domain.retention import Retention
from classroom_box.domain.scheduler import Scheduler
from classroom_box.domain.storage_faults import log_write_failure
from classroom_box.domain.store import Store
from classroom_box.live.answers import AnswerBack
from classroom_box.live.dispatch import Dispatcher
from classroom_box.live.fanout import ClassroomManager
from classroom_box.live.realtime import Realtime
from classroom_box.live.transport import ClassroomServer
from classroom_box.web import api_day, api_lectures  # noqa: F401  (their @route rows join API_ROUTES)
from classroom_box.web.api import API_ROUTES, blueprint
from classroom_box.web.api_answers import ANSWER_ROUTES
from classroom_box.web.hooks import install_http_hooks
from classroom_box.web.limits import BODY_TIMEOUT, SocketIOGuard
from classroom_box.web.openapi import with_openapi
from classroom_box.web.origin import own_origin
from classroom_box.web.pages import pages, static_dir
from classroom_box.web.refusals import RefusalGate
from classroom_box.web.urls import join_url_maker

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
PRUNE_EVERY = 600.0
# every HTTP route the box serves: the API, students answering back, /openapi.json
ROUTES = with_openapi([*API_ROUTES, *ANSWER_ROUTES])
CLOCK_EVERY = 1.0
UNCONNECTED_STUDENT_TTL = 24 * 3600.0  # seconds a joined student has to connect once


@dataclass
class Box:
    """Everything one running box owns; hung on the Quart app as config['BOX']."""

    settings: Settings
    store: Store
    events: EventLog
    lectures: Lectures
    classes: Classes
    realtime: Realtime
    scheduler: Scheduler
    clock: Clock
    questions: Questions
    participation: Participation
    answerback: AnswerBack
    # per student, shared by answers, hands, pulses and asks, over HTTP and sockets alike
    student_limiter: KeyedBuckets
    autoend: AutoEnd
    attendance: AttendanceRecorder
    management: Management
    retention: Retention
    setup: SetupToken = field(default_factory=SetupToken)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    join_throttle: FailureThrottle = field(
        default_factory=lambda: FailureThrottle(free=10, max_delay=60))
    # New students per address: a class behind one NAT joins at once (burst 40), then one
    # every 6 s; a join flood filled the database at ~600 MB/hour from one laptop (issue 15).
    join_rate: KeyedBuckets = field(default_factory=lambda: KeyedBuckets(rate=1 / 6, burst=40))
    _pruner: asyncio.Task[None] | None = None
    _clock_watch: asyncio.Task[None] | None = None

    async def lecture_state(self, sections: list[int]) -> dict[str, Any]:
        async with self.store.read() as tx:
            state = await section_state(tx, sections)
            return {**state, "seq": await self.events.high_seq(tx)}

    async def start(self) -> None:
        await self.store.open()
        await self.attendance.start()  # closes a crash's open intervals before anything ends
        await self.realtime.start()
        await self.scheduler.start()
        await self.autoend.start()
        self.retention.start()
        self._pruner = asyncio.create_task(self._prune_forever(), name="event-pruner")
        self._clock_watch = asyncio.create_task(self._watch_clock(), name="clock-watch")

    async def stop(self) -> None:
        for task in (self._pruner, self._clock_watch):
            if task:
                task.cancel()
        await self.scheduler.stop()
        await self.autoend.stop()
        await self.retention.stop()
        await self.realtime.stop()
        await self.answerback.stop()
        await self.attendance.stop()
        await self.store.close()

    async def _prune_forever(self) -> None:
        while True:
            try:
                removed = await self.events.prune(self.settings.replay_window * 3600)
                await idempotency.prune(self.store)  # keys live as long as the events
                if removed:
                    self.realtime.catchup.cache.clear()  # cached replays may predate the prune
                    log.info("pruned %d events older than the replay window", removed)
                # A wall clock that just jumped a year ahead would make every new student look
                # a day old: only trust it once settled (clock.py).
                gone = (await self.classes.remove_unconnected(UNCONNECTED_STUDENT_TTL)
                        if self.clock.settled() else 0)
                if gone:
                    log.info("removed %d students who joined but never connected", gone)
            except Exception as exc:
                log_write_failure(log, exc, self.store.path, "pruning the event log")
            await asyncio.sleep(PRUNE_EVERY)

    async def _watch_clock(self) -> None:
        """Notice wall-clock jumps promptly and move the stored wall times of what is still
        running (tokens, live lectures, open attendance) along with them."""
        while True:
            self.clock.observe()
            shift = self.clock.take_shift()
            if shift:
                log.warning("wall clock jumped by %+.0f s; logins, live lectures and open"
                            " attendance re-anchored", shift)
                try:
                    async with self.store.write() as tx:  # all or nothing: a retry shifts once
                        await shift_token_times(tx, shift)
                        await shift_live_starts(tx, shift)
                        await shift_open_intervals(tx, shift)
                except Exception as exc:  # e.g. disk full: try again next round
                    log.warning("re-anchoring wall times failed (%s); will retry", exc)
                    self.clock.pending_shift += shift
            await asyncio.sleep(CLOCK_EVERY)


def build_box(settings: Settings, sio: socketio.AsyncServer, manager: ClassroomManager) -> Box:
    """The dispatcher comes first, so the event log is built with its publisher, once; the
    domain's own observers (lecture ends, attendance) hear each committed event after it."""
    dispatcher = Dispatcher()
    observers: list[Publisher] = []
    store = Store(settings.db_path)
    clock = Clock(settings.clock_settle)
    events = EventLog(store, clock, publish=publish_to(dispatcher.publish, observers))
    lectures = Lectures(store, events, clock)
    classes = Classes(store, join_url_maker(settings))
    realtime = Realtime(store, events, classes, sio, manager, dispatcher,
                        max_per_address=settings.max_connections_per_address)
    limiter = KeyedBuckets(rate=2, burst=10)

    def allow(student_id: int) -> bool:
        return limiter.take(f"student:{student_id}")

    questions = Questions(store, events, allow)
    participation = Participation(store, events, allow)
    answerback = AnswerBack(realtime, store, classes, questions, participation)
    questions.notify = participation.notify = answerback.notify
    autoend, attendance = AutoEnd(lectures), AttendanceRecorder(store)
    observers += [autoend.observe, attendance.observe]
    realtime.on_presence = attendance.presence
    return Box(settings, store, events, lectures, classes, realtime,
               Scheduler(lectures, clock), clock, questions, participation, answerback, limiter,
               autoend, attendance, Management(store, events, classes),
               Retention(store, settings.data_retention_days, clock))


def publish_to(sockets: Publisher, observers: list[Publisher]) -> Publisher:
    """Each committed event to the sockets first (they are the promise), then to each observer;
    an observer that fails is logged and the commit stands."""
    def publish(event: Event) -> None:
        sockets(event)
        for each in observers:
            try:
                each(event)
            except Exception:
                log.exception("observing seq %s failed", event.seq)
    return publish


def create_app(settings: Settings) -> socketio.ASGIApp:
    manager = ClassroomManager()
    gate = RefusalGate(burst=settings.socket_refusals_per_address)
    sio = ClassroomServer(
        async_mode="asgi", client_manager=manager, cors_allowed_origins=own_origin,
        max_http_buffer_size=MAX_BODY, ping_interval=25, ping_timeout=20, gate=gate,
    )
    box = build_box(settings, sio, manager)
    gate.joins = box.join_rate
    app = Quart(__name__, static_folder=None)
    app.config.update(BOX=box, STATIC_DIR=str(static_dir()), MAX_CONTENT_LENGTH=MAX_BODY,
                      BODY_TIMEOUT=BODY_TIMEOUT, JSON_SORT_KEYS=False)
    app.register_blueprint(blueprint(ROUTES))
    app.register_blueprint(pages)
    app.before_serving(box.start)
    app.after_serving(box.stop)
    install_http_hooks(app, box.store.path)
    asgi = SocketIOGuard(socketio.ASGIApp(sio, other_asgi_app=app),
                         settings.max_connections_per_address, MAX_BODY, gate)
    asgi.box = box  # type: ignore[attr-defined]
    asgi.quart = app  # type: ignore[attr-defined]
    return asgi  # type: ignore[return-value]
