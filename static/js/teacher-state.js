/**
 * teacher-state.js — what the teacher page's modules share, in one place: the stream's latest
 * state, the section panels on screen and the classes they were built from.
 *
 * One owner for each: teacher.js sets `state` on every stream update, teacher-classes.js sets
 * `classes` and `panels` when it (re)builds the cards; everything else only reads. A plain object
 * rather than exported `let`s, so that a module that reads it never holds a stale copy.
 */
export const page = {
  /** The stream's state: live, scheduled and ended lectures, participation (see stream-state.js). */
  state: { live: [], scheduled: [], ended: [] },
  /** section_id -> panel record (built in teacher-classes.js, patched on every event). */
  panels: new Map(),
  /** The teacher's active classes with their sections, as GET /api/classes answered. */
  classes: [],
};
