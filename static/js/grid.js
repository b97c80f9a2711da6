// The grid's keyboard and mouse behaviour: inline editing, moving between cells, selecting
// rows and dragging columns. Everything else (saving, paging, sorting) is htmx.
"use strict";

(() => {
  const grid = () => document.getElementById("grid");
  const cells = (row) => Array.from(row.querySelectorAll("td[data-column]"));
  let editing = null; // { td, field, original }

  function cellUrl(td) {
    const template = grid().dataset.cellUrl;
    return template
      .replace("111111111", td.closest("tr").dataset.row)
      .replace("222222222", td.dataset.column);
  }

  function rawText(td) {
    if (td.hasAttribute("data-raw")) return td.dataset.raw;
    const error = td.querySelector(".cell__error");
    const text = td.textContent;
    return error ? text.slice(0, text.length - error.textContent.length) : text;
  }

  function focusCell(td) {
    if (!td) return;
    document.querySelectorAll("#grid td.is-active").forEach((cell) => cell.classList.remove("is-active"));
    td.classList.add("is-active");
    td.focus({ preventScroll: false });
  }

  function neighbour(td, dx, dy) {
    const row = td.closest("tr");
    if (dy) {
      let next = dy > 0 ? row.nextElementSibling : row.previousElementSibling;
      while (next && !next.dataset.row) next = dy > 0 ? next.nextElementSibling : next.previousElementSibling;
      return next ? cells(next)[cells(row).indexOf(td)] : null;
    }
    const list = cells(row);
    return list[list.indexOf(td) + dx] || null;
  }

  // An enrichment cell is not typed into: a click or Enter opens its details beside the grid.
  function openDetail(td) {
    htmx.ajax("GET", td.dataset.detail, { target: "#cell-panel", swap: "innerHTML" }).then(() => {
      // The grid has narrowed to make room for the panel: keep the cell in sight.
      td.scrollIntoView({ block: "nearest", inline: "nearest" });
      document.querySelector("#cell-panel .cell-panel")?.focus({ preventScroll: true });
    });
  }

  function startEdit(td, initial) {
    if (editing) return;
    if (td.dataset.detail && initial === undefined) { openDetail(td); return; }
    if (td.hasAttribute("data-readonly")) return;
    const original = rawText(td);
    const field = document.createElement("textarea");
    field.className = "cell__editor";
    field.rows = 1;
    field.value = initial ?? original;
    field.setAttribute("aria-label", "Cell value");
    td.classList.add("is-editing");
    td.dataset.html = td.innerHTML;
    td.replaceChildren(field);
    editing = { td, field, original };
    fitEditor(field);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  }

  // The editor grows with its text (up to its CSS max-height), so long values can be read.
  function fitEditor(field) {
    field.style.height = "auto";
    field.style.height = `${field.scrollHeight + 2}px`;
  }
  document.addEventListener("input", (event) => {
    if (editing && event.target === editing.field) fitEditor(editing.field);
  });

  function cancelEdit() {
    if (!editing) return;
    const { td } = editing;
    editing = null;
    td.innerHTML = td.dataset.html;
    delete td.dataset.html;
    td.classList.remove("is-editing");
    focusCell(td);
  }

  // Save and then move by (dx, dy); an unchanged value is not sent.
  function commitEdit(dx = 0, dy = 0) {
    if (!editing) return;
    const { td, field, original } = editing;
    const value = field.value;
    if (value === original) {
      cancelEdit();
      focusCell(neighbour(td, dx, dy) || td);
      return;
    }
    editing = null;
    const row = td.closest("tr");
    const index = cells(row).indexOf(td);
    htmx.ajax("POST", cellUrl(td), { target: td, swap: "outerHTML", values: { value } }).then(() => {
      const saved = cells(row)[index];
      const failed = saved && saved.classList.contains("cell--error");
      focusCell(failed ? saved : neighbour(saved, dx, dy) || saved);
    });
  }

  // --- Selection, as in a spreadsheet: a click selects a cell; Enter, F2, a double click or
  // typing edits it; Shift extends the selection to a rectangle; arrows move it. The range is
  // kept as row and column ids, so it survives rows being swapped in by an answer.
  let range = null; // { anchor: [row id, column id], focus: [row id, column id] }

  const dataRows = () => Array.from(document.querySelectorAll("#grid tbody tr[data-row]"));
  const columnIds = () =>
    Array.from(document.querySelectorAll("#grid th[data-column]"), (th) => th.dataset.column);
  const place = (td) => [td.closest("tr").dataset.row, td.dataset.column];
  const cellAt = ([row, column]) =>
    document.querySelector(`#grid tr[data-row="${row}"] td[data-column="${column}"]`);

  // The selected rectangle as row ids (top to bottom) and column ids (left to right).
  function rangeBounds() {
    if (!range) return null;
    const rows = dataRows().map((tr) => tr.dataset.row);
    const columns = columnIds();
    const r = [rows.indexOf(range.anchor[0]), rows.indexOf(range.focus[0])];
    const c = [columns.indexOf(range.anchor[1]), columns.indexOf(range.focus[1])];
    if (r.includes(-1) || c.includes(-1)) return null;
    return {
      rows: rows.slice(Math.min(...r), Math.max(...r) + 1),
      columns: columns.slice(Math.min(...c), Math.max(...c) + 1),
    };
  }

  function paintRange() {
    document.querySelectorAll("#grid td.is-selected").forEach((td) => td.classList.remove("is-selected"));
    const bounds = rangeBounds();
    if (!bounds || (bounds.rows.length === 1 && bounds.columns.length === 1)) return;
    for (const row of bounds.rows) {
      for (const column of bounds.columns) cellAt([row, column])?.classList.add("is-selected");
    }
  }

  function select(td, extend = false) {
    if (!td) return;
    if (extend && range) {
      range.focus = place(td);
    } else {
      range = { anchor: place(td), focus: place(td) };
      focusCell(td);
    }
    paintRange();
  }

  document.addEventListener("click", (event) => {
    const td = event.target.closest("#grid td[data-column]");
    if (!td || event.target.closest("a, input, textarea, button")) return;
    if (editing && editing.td !== td) commitEdit();
    if (editing) return;
    select(td, event.shiftKey);
    // A computed cell has no editor: a click also opens its details beside the grid.
    if (td.dataset.detail && !event.shiftKey) openDetail(td);
  });
  document.addEventListener("dblclick", (event) => {
    const td = event.target.closest("#grid td[data-column]");
    if (!td || editing || event.target.closest("a, input, textarea, button")) return;
    select(td);
    startEdit(td);
  });

  document.addEventListener("keydown", (event) => {
    if (editing) {
      if (event.key === "Escape") { event.preventDefault(); cancelEdit(); }
      else if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); commitEdit(0, 1); }
      else if (event.key === "Tab") { event.preventDefault(); commitEdit(event.shiftKey ? -1 : 1, 0); }
      return;
    }
    const td = event.target.closest && event.target.closest("#grid td[data-column]");
    if (!td) return;
    const command = event.ctrlKey || event.metaKey;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      event.preventDefault();
      if (event.shiftKey && range) {
        const from = cellAt(range.focus) || td;
        const next = neighbour(from, ...moves[event.key]) || from;
        range.focus = place(next);
        next.scrollIntoView({ block: "nearest", inline: "nearest" });
        paintRange();
      } else {
        select(neighbour(td, ...moves[event.key]) || td);
      }
    } else if (event.key === "Tab") {
      const next = neighbour(td, event.shiftKey ? -1 : 1, 0);
      if (next) { event.preventDefault(); select(next); }
    } else if (event.key === "Enter" || event.key === "F2") {
      event.preventDefault();
      startEdit(td);
    } else if (event.key === "Escape") {
      select(td);
    } else if (command && key === "a") {
      // Once: the cell's column; again: every loaded cell.
      event.preventDefault();
      const rows = dataRows();
      const columns = columnIds();
      const bounds = rangeBounds();
      const column = bounds && bounds.columns.length === 1 && bounds.rows.length === rows.length;
      const [first, last] = [rows[0].dataset.row, rows[rows.length - 1].dataset.row];
      range = column
        ? { anchor: [first, columns[0]], focus: [last, columns[columns.length - 1]] }
        : { anchor: [first, td.dataset.column], focus: [last, td.dataset.column] };
      paintRange();
    } else if (command && key === "d") {
      event.preventDefault();
      rangeAction("fillUrl");
    } else if (command && key === "z") {
      event.preventDefault();
      rangeAction(event.shiftKey ? "redoUrl" : "undoUrl");
    } else if (command && key === "y") {
      event.preventDefault();
      rangeAction("redoUrl");
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      rangeAction("clearUrl");
    } else if (event.key.length === 1 && !command && !event.altKey) {
      event.preventDefault();
      startEdit(td, event.key); // typing replaces the value, as in a spreadsheet
    }
  });

  // --- Range actions: one server call each, answered with the rows they changed (swapped
  // in place) and a line saying what happened.
  const keyOf = (columnId) => document.querySelector(`#grid th[data-column="${columnId}"]`)?.dataset.key;

  function rangeValues() {
    const bounds = rangeBounds() || (range && { rows: [range.focus[0]], columns: [range.focus[1]] });
    if (!bounds) return null;
    return { rows: bounds.rows.join(","), columns: bounds.columns.map(keyOf).join(",") };
  }

  let refocus = false; // a range action's answer replaces the rows: the active cell again
  function rangeAction(urlName, extra = {}) {
    const url = grid()?.dataset[urlName];
    const values = rangeValues();
    if (!url || !values) return;
    refocus = true;
    htmx.ajax("POST", url, { target: "#grid-status", swap: "innerHTML", values: { ...values, ...extra } });
  }

  // Ctrl+C: the range as tab-separated text, each cell as the grid shows it.
  document.addEventListener("copy", (event) => {
    if (editing || !document.activeElement?.closest?.("#grid td[data-column]")) return;
    const bounds = rangeBounds() || (range && { rows: [range.focus[0]], columns: [range.focus[1]] });
    if (!bounds) return;
    const quote = (text) => (/[\t\n"]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
    const lines = bounds.rows.map((row) =>
      bounds.columns.map((column) => { const td = cellAt([row, column]); return td ? quote(rawText(td)) : ""; }).join("\t"));
    event.clipboardData.setData("text/plain", lines.join("\n"));
    event.preventDefault();
  });

  // Ctrl+V: text from a spreadsheet, pasted from the selected cell down and to the right;
  // lines past the last row add rows when the whole table is loaded.
  document.addEventListener("paste", (event) => {
    if (editing || !range || !document.activeElement?.closest?.("#grid td[data-column]")) return;
    const text = event.clipboardData.getData("text/plain");
    if (!text) return;
    event.preventDefault();
    const rows = dataRows().map((tr) => tr.dataset.row);
    const columns = columnIds();
    const bounds = rangeBounds();
    const top = bounds ? bounds.rows[0] : range.focus[0];
    const left = bounds ? bounds.columns[0] : range.focus[1];
    const values = {
      rows: rows.slice(rows.indexOf(top)).join(","),
      columns: columns.slice(columns.indexOf(left)).map(keyOf).join(","),
      text,
      end: document.querySelector("#grid .grid__more") ? "0" : "1",
    };
    refocus = true;
    htmx.ajax("POST", grid().dataset.pasteUrl, { target: "#grid-status", swap: "innerHTML", values });
  });

  // Rows swapped in by an answer lose their selection marks: paint them again. A paste that
  // added rows shows the end of the table, where they are.
  document.addEventListener("htmx:afterSettle", () => {
    paintRange();
    if (!refocus || !range) return;
    refocus = false;
    const active = cellAt([range.anchor[0], range.anchor[1]]);
    if (active && !active.contains(document.activeElement)) focusCell(active);
  });
  document.body.addEventListener("grid-show-end", () => {
    htmx.ajax("GET", `${window.location.pathname}?after=tail`, { target: "#grid", swap: "outerHTML" });
  });

  document.addEventListener("focusout", (event) => {
    if (editing && event.target === editing.field) {
      // Let a click on another cell finish its own handling first.
      setTimeout(() => { if (editing && editing.field === event.target) commitEdit(); }, 0);
    }
  });

  // Row selection: "select all" and enabling "Delete selected".
  function syncSelection() {
    const any = document.querySelector("#grid .row-select:checked");
    document.querySelectorAll("#grid [data-needs-selection]").forEach((button) => { button.disabled = !any; });
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches("#grid [data-select-all]")) {
      document.querySelectorAll("#grid .row-select").forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.closest("#grid")) syncSelection();
  });

  // Dragging a header onto another moves the column there.
  let dragged = null;
  document.addEventListener("dragstart", (event) => {
    const th = event.target.closest && event.target.closest("#grid th[data-key]");
    if (!th) return;
    dragged = th;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", th.dataset.key);
  });
  document.addEventListener("dragover", (event) => {
    if (dragged && event.target.closest("#grid th[data-key]")) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    const target = event.target.closest("#grid th[data-key]");
    if (!dragged || !target || target === dragged) { dragged = null; return; }
    event.preventDefault();
    const headers = Array.from(document.querySelectorAll("#grid th[data-key]"));
    const keys = headers.map((th) => th.dataset.key).filter((key) => key !== dragged.dataset.key);
    const before = headers.indexOf(target) > headers.indexOf(dragged);
    keys.splice(keys.indexOf(target.dataset.key) + (before ? 1 : 0), 0, dragged.dataset.key);
    dragged = null;
    // Sent through the grid's own form, so htmx swaps and wires up the new grid as usual.
    const form = document.getElementById("reorder-form");
    form.elements.keys.value = keys.join(",");
    htmx.trigger(form, "submit");
  });

  // A column's menu opens over the page: inside the grid's scroll box it would be cut off
  // (a short table has no room below its header). It closes when the grid scrolls.
  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (!menu.matches || !menu.matches("#grid .grid__menu") || !menu.open) return;
    const panel = menu.querySelector(".menu__panel");
    const anchor = menu.querySelector("summary").getBoundingClientRect();
    const width = panel.offsetWidth;
    panel.style.top = `${anchor.bottom + 4}px`;
    panel.style.left = `${Math.max(8, Math.min(anchor.right - width, window.innerWidth - width - 8))}px`;
    // Below the header there may be less room than the menu needs: it scrolls inside itself.
    panel.style.maxHeight = `${Math.max(120, window.innerHeight - anchor.bottom - 12)}px`;
    panel.style.overflowY = "auto";
    panel.classList.add("menu__panel--placed");
  }, true); // "toggle" does not bubble
  // A column menu opened before this script ran is placed now.
  document.querySelectorAll("#grid .grid__menu[open]").forEach((menu) => menu.dispatchEvent(new Event("toggle")));
  function closeColumnMenus() {
    document.querySelectorAll("#grid .grid__menu[open]").forEach((menu) => menu.removeAttribute("open"));
  }
  document.addEventListener("scroll", (event) => {
    if (event.target.classList && event.target.classList.contains("grid-scroll")) closeColumnMenus();
  }, true);
  window.addEventListener("resize", closeColumnMenus);

  // The export menu follows the grid's current search and sort.
  document.addEventListener("submit", (event) => {
    if (event.target.id !== "export-form") return;
    event.target.elements.sort.value = grid().dataset.sort || "";
    event.target.elements.q.value = grid().dataset.q || "";
    event.target.elements.filter.value = grid().dataset.filter || "";
  });

  // After "+ Row" the grid shows the table's end: the new row is scrolled into view and its
  // first editable cell has the focus, ready to type into. Once per new grid region.
  document.addEventListener("htmx:afterSettle", () => {
    syncSelection();
    const region = grid();
    if (!region || !region.hasAttribute("data-tail") || region.dataset.tailShown) return;
    region.dataset.tailShown = "1";
    const rows = region.querySelectorAll("tbody tr[data-row]");
    const last = rows[rows.length - 1];
    if (!last) return;
    const first = cells(last).find((td) => !td.hasAttribute("data-readonly")) || cells(last)[0];
    focusCell(first);
    first.scrollIntoView({ block: "nearest", inline: "nearest" });
  });

  // When a run ends the grid reloads itself: the rows in view and the chosen cell stay as
  // they were (a sort, a search or an edit still starts from their own place).
  let kept = null;
  let reload = null; // the request of the grid's own reload (an action's answer also lands here)
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.id === "grid") reload = event.detail.xhr;
  });
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target?.id !== "grid") return;
    kept = null;
    if (event.detail.xhr !== reload) return;
    const box = document.querySelector("#grid .grid-scroll");
    const active = document.querySelector("#grid td.is-active");
    kept = {
      region: grid(),
      top: box?.scrollTop ?? 0,
      left: box?.scrollLeft ?? 0,
      row: active?.closest("tr").dataset.row,
      column: active?.dataset.column,
      focused: active !== null && active === document.activeElement,
    };
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!kept || grid() === kept.region) return;
    const { top, left, row, column, focused } = kept;
    kept = null;
    const box = document.querySelector("#grid .grid-scroll");
    if (box) { box.scrollTop = top; box.scrollLeft = left; }
    const td = row && document.querySelector(`#grid tr[data-row="${row}"] td[data-column="${column}"]`);
    if (!td) return;
    td.classList.add("is-active");
    if (focused) td.focus({ preventScroll: true });
  });

  // A running column's progress poll brings back the cells of the rows in view.
  document.addEventListener("htmx:configRequest", (event) => {
    if (!event.detail.elt.classList?.contains("run-progress")) return;
    const box = document.querySelector("#grid .grid-scroll")?.getBoundingClientRect();
    if (!box) return;
    const ids = [];
    for (const tr of document.querySelectorAll("#grid tr[data-row]")) {
      const rect = tr.getBoundingClientRect();
      if (rect.bottom >= box.top && rect.top <= box.bottom) ids.push(tr.dataset.row);
      if (ids.length >= 300) break;
    }
    event.detail.parameters.rows = ids.join(",");
  });
})();
