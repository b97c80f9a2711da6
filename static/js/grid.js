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

  document.addEventListener("click", (event) => {
    const td = event.target.closest("#grid td[data-column]");
    if (!td || event.target.closest("a, input, textarea, button")) return;
    if (editing && editing.td !== td) commitEdit();
    focusCell(td);
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
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      event.preventDefault();
      focusCell(neighbour(td, ...moves[event.key]) || td);
    } else if (event.key === "Tab") {
      const next = neighbour(td, event.shiftKey ? -1 : 1, 0);
      if (next) { event.preventDefault(); focusCell(next); }
    } else if (event.key === "Enter" || event.key === "F2") {
      event.preventDefault();
      startEdit(td);
    } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      startEdit(td, event.key); // typing replaces the value, as in a spreadsheet
    }
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
