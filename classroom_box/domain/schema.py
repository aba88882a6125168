"""What the database looks like: the forward-only migrations, one entry per schema version.

It owns the table definitions only; it must never run SQL itself (store.py applies it) nor
change a shipped entry (a box in a classroom has that version on its SD card).
"""

from __future__ import annotations

# Each entry moves the schema from version i to i + 1. Never edit a shipped entry: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'teacher' CHECK (role IN ('teacher')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sections (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        name TEXT NOT NULL,
        join_code TEXT NOT NULL UNIQUE
    );
    CREATE TABLE students (
        id INTEGER PRIMARY KEY,
        section_id INTEGER NOT NULL REFERENCES sections(id),
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('teacher', 'student')),
        subject_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        expires_at REAL
    );
    CREATE TABLE scheduled_lectures (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        subject TEXT NOT NULL,
        title TEXT NOT NULL,
        scheduled_time TEXT NOT NULL,
        duration_minutes INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'started', 'cancelled', 'missed')),
        session_id INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE lecture_sessions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        subject TEXT NOT NULL,
        title TEXT NOT NULL,
        topic_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('live', 'ended')),
        start_time TEXT NOT NULL,
        end_time TEXT,
        duration_minutes INTEGER NOT NULL,
        progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
        note TEXT NOT NULL DEFAULT '',
        summary TEXT,
        schedule_id INTEGER REFERENCES scheduled_lectures(id)
    );
    CREATE UNIQUE INDEX one_live_lecture_per_section
        ON lecture_sessions(section_id) WHERE status = 'live';
    CREATE INDEX scheduled_pending ON scheduled_lectures(status, scheduled_time);
    -- AUTOINCREMENT: a seq is never reused, even after every row was pruned.
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        teacher_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX events_room_seq ON events(room, seq);
    CREATE INDEX events_teacher_seq ON events(teacher_id, seq);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: `teacher unlock`/`passwd` bump `unlocks`; the running box then forgets that account's
    # failed logins. `seen_at`: when a student first connected (never: removed after a day).
    """
    ALTER TABLE users ADD COLUMN unlocks INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE students ADD COLUMN seen_at TEXT;
    """,
    # 3: students answer back (issue 13): questions and answers, hands, pulse, asks, and the
    # Idempotency-Key records that make a retried answer or ask count once.
    """
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        teacher_id INTEGER NOT NULL REFERENCES users(id),
        session_id INTEGER REFERENCES lecture_sessions(id),
        kind TEXT NOT NULL CHECK (kind IN ('single', 'multiple', 'text', 'number')),
        prompt TEXT NOT NULL,
        options TEXT NOT NULL,
        correct TEXT,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        opened_at TEXT NOT NULL,
        closed_at TEXT,
        revealed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX questions_section ON questions(section_id, id);
    -- One row per student and question: a later answer replaces the earlier one.
    CREATE TABLE answers (
        question_id INTEGER NOT NULL REFERENCES questions(id),
        student_id INTEGER NOT NULL REFERENCES students(id),
        value TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (question_id, student_id)
    ) WITHOUT ROWID;
    CREATE TABLE idempotency_keys (
        student_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        response TEXT NOT NULL,
        -- the newest event seq when the key was stored: keys are pruned with the event log
        created_seq INTEGER NOT NULL,
        PRIMARY KEY (student_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_age ON idempotency_keys(created_seq);
    CREATE TABLE hands (
        student_id INTEGER PRIMARY KEY REFERENCES students(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        raised_at TEXT NOT NULL
    );
    CREATE INDEX hands_section ON hands(section_id, raised_at);
    CREATE TABLE pulses (
        student_id INTEGER PRIMARY KEY REFERENCES students(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        session_id INTEGER NOT NULL REFERENCES lecture_sessions(id),
        value TEXT NOT NULL CHECK (value IN ('got_it', 'lost')),
        updated_at TEXT NOT NULL
    );
    CREATE INDEX pulses_session ON pulses(session_id, value);
    CREATE TABLE asks (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        session_id INTEGER REFERENCES lecture_sessions(id),
        student_id INTEGER NOT NULL REFERENCES students(id),
        text TEXT NOT NULL,
        asked_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX asks_section ON asks(section_id, done_at);
    CREATE INDEX asks_student ON asks(student_id, session_id);
    """,
    # 4, issue 14 (a teacher's whole day): who ended a lecture, archived classes, removed students,
    # and attendance as presence intervals (left_at NULL while open; last_seen is the newest
    # moment the box knew the student was there, so a restart closes the interval there).
    """
    ALTER TABLE lecture_sessions ADD COLUMN ended_by TEXT;
    ALTER TABLE classes ADD COLUMN archived_at TEXT;
    ALTER TABLE students ADD COLUMN removed_at TEXT;
    ALTER TABLE students ADD COLUMN last_seen TEXT;
    CREATE TABLE attendance (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES lecture_sessions(id),
        student_id INTEGER NOT NULL REFERENCES students(id),
        joined_at TEXT NOT NULL,
        left_at TEXT,
        last_seen TEXT NOT NULL
    );
    CREATE INDEX attendance_session ON attendance(session_id, student_id);
    CREATE INDEX attendance_open ON attendance(student_id) WHERE left_at IS NULL;
    CREATE INDEX lecture_sessions_ended ON lecture_sessions(section_id, end_time)
        WHERE status = 'ended';
    """,
)
