"""What HTTP offers for students answering back: questions, answers, hands, pulse and asks.

Owns the rows `ANSWER_ROUTES`, which `app.py` puts into the one route table beside
`api.API_ROUTES`. Each route is a thin layer over the same domain method the socket event calls
(answers and asks take their `Idempotency-Key` from the header and say `Idempotent-Replayed: true`
when they replay); it must never decide anything the domain decides, nor import the live layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from quart import Response, current_app, jsonify, request

from classroom_box.domain.auth import Principal
from classroom_box.domain.participation import PULSES, Participation
from classroom_box.domain.questions import KINDS, MAX_TEXT, Outcome, Questions
from classroom_box.domain.validation import Field, Schema
from classroom_box.web.api import Handler, Route, query

QUESTION = {"class_id": Field("id"), "section_id": Field("id"),
            "kind": Field("choice", choices=KINDS), "prompt": Field("str", max_len=MAX_TEXT),
            "options": Field("str_list", required=False, max_len=200, max=10),
            "correct": Field("int_list", required=False, max=10)}
QUESTIONS_QUERY = {"section_id": Field("id")}
ANSWER = {"value": Field("any")}
HAND = {"raised": Field("bool")}
PULSE = {"value": Field("choice", required=False, choices=PULSES)}
ASK = {"text": Field("str", max_len=MAX_TEXT)}
LOWER = {"section_id": Field("id")}
IDEMPOTENT_PATHS = ("/api/questions/<int:question_id>/answers", "/api/asks")
ANSWER_ROUTES: list[Route] = []  # filled by @route below, in file order


class AnswerBox(Protocol):
    """What these routes use of the running box (`app.Box`)."""

    questions: Questions
    participation: Participation


def box() -> AnswerBox:
    return cast(AnswerBox, current_app.config["BOX"])


def route(method: str, path: str, who: str,
          body: Schema | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ANSWER_ROUTES.append(Route(method, path, who, body, handler,
                                   (handler.__doc__ or "").strip()))
        return handler
    return register


def keyed(outcome: Outcome) -> Response:
    """201 the first time; 200 and `Idempotent-Replayed: true` for a replay."""
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# --- the teacher -------------------------------------------------------------------------------
@route("POST", "/api/questions", "teacher", QUESTION)
async def create_question(principal: Principal, body: dict[str, Any]) -> Any:
    """Ask the section a question; it is open at once (and part of the live lecture, if any)."""
    return {"question": await box().questions.create(principal.id, body)}, 201


@route("POST", "/api/questions/<int:question_id>/close", "teacher")
async def close_question(principal: Principal, question_id: int) -> Any:
    """Stop taking answers (closing twice changes nothing)."""
    return {"question": await box().questions.close(principal.id, question_id)}


@route("POST", "/api/questions/<int:question_id>/reveal", "teacher")
async def reveal_question(principal: Principal, question_id: int) -> Any:
    """Show a closed question's tallies and correct answer to the students."""
    return await box().questions.reveal(principal.id, question_id)


@route("GET", "/api/questions/<int:question_id>/results", "teacher")
async def question_results(principal: Principal, question_id: int) -> Any:
    """Tallies and every student's answer, for the question's teacher."""
    return await box().questions.results(principal.id, question_id)


@route("GET", "/api/questions/<int:question_id>/results.csv", "teacher")
async def question_results_csv(principal: Principal, question_id: int) -> Any:
    """The answers as RFC 4180 CSV, one row per student who answered."""
    text = await box().questions.results_csv(principal.id, question_id)
    return Response(text, content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="question-{question_id}.csv"',
        "Cache-Control": "no-store"})


@route("GET", "/api/questions", "any")
async def list_questions(principal: Principal) -> Any:
    """A section's questions, newest first (students: no unrevealed correct answer)."""
    q = query(QUESTIONS_QUERY)
    return {"questions": await box().questions.of_section(principal, q["section_id"])}


@route("POST", "/api/hands/<int:student_id>/lower", "teacher", LOWER)
async def lower_hand(principal: Principal, body: dict[str, Any], student_id: int) -> Any:
    """Lower a student's raised hand."""
    return await box().participation.lower_hand(principal.id, student_id, body["section_id"])


@route("POST", "/api/asks/<int:ask_id>/done", "teacher")
async def ask_done(principal: Principal, ask_id: int) -> Any:
    """Mark a student's question as handled."""
    return await box().participation.ask_done(principal.id, ask_id)


# --- the student -------------------------------------------------------------------------------
@route("POST", "/api/questions/<int:question_id>/answers", "student", ANSWER)
async def answer_question(principal: Principal, body: dict[str, Any], question_id: int) -> Any:
    """Answer (exactly once per Idempotency-Key; a new key replaces the earlier answer)."""
    outcome = await box().questions.answer(principal, question_id,
                                           request.headers.get("Idempotency-Key"), body["value"])
    return keyed(outcome)


@route("POST", "/api/hand", "student", HAND)
async def hand(principal: Principal, body: dict[str, Any]) -> Any:
    """Raise or lower one's hand (a state: repeating it changes nothing)."""
    return await box().participation.set_hand(principal, body["raised"])


@route("POST", "/api/pulse", "student", PULSE)
async def pulse(principal: Principal, body: dict[str, Any]) -> Any:
    """Say "got_it" or "lost" about the live lecture (null withdraws it)."""
    return await box().participation.set_pulse(principal, body.get("value"))


@route("POST", "/api/asks", "student", ASK)
async def ask_teacher(principal: Principal, body: dict[str, Any]) -> Any:
    """Send the teacher a question (exactly once per Idempotency-Key)."""
    outcome = await box().participation.ask(principal, request.headers.get("Idempotency-Key"),
                                            body["text"])
    return keyed(outcome)
