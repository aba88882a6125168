// Generated from classroom_box/event_types.py by scripts/gen-event-types: do not edit.

/** Events that carry a `seq` and change lecture state. */
export const SEQ_EVENTS = Object.freeze([
  "lecture_started",
  "lecture_scheduled",
  "lecture_ended",
  "lecture_cancelled",
  "lecture_duration_update",
  "lecture_progress_update"
]);

/** The fields of a lecture object. */
export const LECTURE_FIELDS = Object.freeze([
  "session_id",
  "class_id",
  "section_id",
  "subject",
  "title",
  "topic_id",
  "status",
  "start_time",
  "end_time",
  "duration_minutes",
  "progress",
  "note",
  "summary",
  "schedule_id"
]);

/** The fields of a schedule object. */
export const SCHEDULE_FIELDS = Object.freeze([
  "schedule_id",
  "class_id",
  "section_id",
  "subject",
  "title",
  "scheduled_time",
  "duration_minutes",
  "status",
  "session_id"
]);
