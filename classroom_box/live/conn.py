"""One connected socket as the live layer knows it: who, from which address, in which rooms.

Owns only the record; admission creates it, the rest of the live layer reads it. It must never
hold anything that outlives the socket (memory stays flat under reconnect churn).
"""

from __future__ import annotations

from dataclasses import dataclass

from classroom_box.domain.auth import Principal
from classroom_box.domain.ratelimit import TokenBucket


@dataclass
class Conn:
    principal: Principal
    address: str
    rooms: set[str]
    bucket: TokenBucket
    strikes: int = 0

    @property
    def teacher_id(self) -> int | None:
        return self.principal.id if self.principal.kind == "teacher" else None
