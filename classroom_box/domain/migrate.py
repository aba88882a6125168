"""How the database reaches this release's schema: schema.py's migrations, applied in order.
It owns applying them and must never skip a version nor run on a database newer than itself.
"""

from __future__ import annotations

import aiosqlite

from classroom_box.domain.schema import MIGRATIONS


async def migrate(conn: aiosqlite.Connection) -> None:
    """Bring the database up to this release's schema, one version per transaction; refuse a
    database from a newer release rather than run on a schema we do not know."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema {version} is newer than this classroom-box "
            f"({len(MIGRATIONS)}); upgrade the software"
        )
    for number in range(version, len(MIGRATIONS)):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(MIGRATIONS[number]):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version={number + 1}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (ours contain no semicolons inside literals)."""
    statements = []
    for chunk in script.split(";"):
        lines = [ln for ln in chunk.splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            statements.append(text)
    return statements
