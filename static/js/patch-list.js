/**
 * patch-list.js — keep a list's rows in place while its data changes.
 *
 * Why: a rebuilt row loses keyboard focus, typed text, an open disclosure and a screen reader's
 * place, and the answer-back lists change several times a second. Rows are built once per key,
 * updated, moved only when out of order, and removed when their key goes.
 */
/**
 * `rows` (a Map kept by the caller) holds the built rows by key. `build(item)` returns
 * `{el, update?(item)}`; a row whose `sigOf(item)` changes (e.g. a question closed) is built again.
 */
export function patchList(container, rows, items, keyOf, build, sigOf = () => "") {
  const wanted = items.map((item) => {
    const key = keyOf(item);
    let row = rows.get(key);
    if (!row || row.sig !== sigOf(item)) {
      if (row) row.el.remove();
      row = { ...build(item), sig: sigOf(item) };
      rows.set(key, row);
    }
    if (row.update) row.update(item);
    return [key, row];
  });
  const keep = new Set(wanted.map(([key]) => key));
  for (const [key, row] of rows) {
    if (!keep.has(key)) {
      row.el.remove();
      rows.delete(key);
    }
  }
  let before = container.firstChild;
  for (const [, row] of wanted) {
    if (row.el !== before) container.insertBefore(row.el, before);
    before = row.el.nextSibling;
  }
}
