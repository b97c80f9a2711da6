// The grid's filter builder: a list of conditions (column, operator, value; a field path for
// an enrichment column) joined by "all" or "any". Applying it writes the filter as JSON into
// the grid's state form and reloads the grid, so every request of the grid carries it.
"use strict";

(() => {
  const NO_VALUE = new Set(["is_empty", "is_not_empty"]);

  function columns(form) {
    return JSON.parse(form.dataset.columns || "[]");
  }

  function conditionRow(form, condition = {}) {
    const all = columns(form);
    const row = document.createElement("li");
    row.className = "filter-builder__condition";
    row.setAttribute("data-condition", "");
    const column = document.createElement("select");
    column.name = "column";
    column.setAttribute("aria-label", "Column");
    for (const item of all) column.add(new Option(item.label, item.key));
    const operator = document.createElement("select");
    operator.name = "operator";
    operator.setAttribute("aria-label", "Condition");
    const path = document.createElement("input");
    path.name = "path";
    path.placeholder = "field path, e.g. company.name";
    path.setAttribute("aria-label", "Field of the answer");
    const value = document.createElement("input");
    value.name = "value";
    value.setAttribute("aria-label", "Value");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button--link";
    remove.textContent = "Remove";
    remove.addEventListener("click", () => row.remove());

    const refresh = () => {
      const chosen = all.find((item) => item.key === column.value) || all[0];
      const current = operator.value;
      operator.replaceChildren(...chosen.operators.map(([op, label]) => new Option(label, op)));
      if (chosen.operators.some(([op]) => op === current)) operator.value = current;
      path.hidden = !chosen.computed || operator.value === "status_is";
      value.hidden = NO_VALUE.has(operator.value);
      value.placeholder = operator.value === "status_is" ? form.dataset.statuses
        : operator.value === "between" ? "low, high" : operator.value === "is_one_of" ? "a, b, c" : "value";
    };
    column.addEventListener("change", refresh);
    operator.addEventListener("change", refresh);
    if (condition.column) column.value = condition.column;
    refresh();
    if (condition.operator) { operator.value = condition.operator; refresh(); }
    value.value = condition.value ?? "";
    path.value = condition.path ?? "";
    row.append(column, operator, path, value, remove);
    return row;
  }

  function apply(filter) {
    const state = document.getElementById("grid-state");
    if (!state) return;
    state.elements.filter.value = filter ? JSON.stringify(filter) : "";
    htmx.trigger(state, "submit");
  }

  function read(form) {
    const listed = (text) => text.split(",").map((part) => part.trim()).filter(Boolean);
    const conditions = [];
    for (const row of form.querySelectorAll("[data-conditions] [data-condition]")) {
      const field = (name) => row.querySelector(`[name=${name}]`);
      const operator = field("operator").value;
      const condition = { column: field("column").value, operator };
      const raw = field("value").value.trim();
      if (!NO_VALUE.has(operator)) {
        condition.value = ["between", "is_one_of", "status_is"].includes(operator) ? listed(raw) : raw;
      }
      if (!field("path").hidden && field("path").value.trim()) condition.path = field("path").value.trim();
      conditions.push(condition);
    }
    return conditions.length ? { op: form.elements.op.value, conditions } : null;
  }

  // The builder is part of the grid region, replaced with it: set up each one as it comes.
  htmx.onLoad((root) => {
    const form = root.querySelector?.("#filter-form") || (root.id === "filter-form" ? root : null);
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    const list = form.querySelector("[data-conditions]");
    for (const placeholder of list.querySelectorAll("[data-condition]")) {
      placeholder.replaceWith(conditionRow(form, placeholder.dataset));
    }
    if (!list.children.length) list.append(conditionRow(form));
    form.querySelector("[data-add-condition]").addEventListener("click", () => {
      list.append(conditionRow(form));
      list.lastElementChild.querySelector("select").focus();
    });
    form.querySelector("[data-clear-filter]").addEventListener("click", () => apply(null));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      apply(read(form));
    });
  });
})();
