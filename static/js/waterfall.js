// The waterfall panel: add, move and remove steps. Each step is a form of a Django formset;
// its position in the chain is its ORDER field, rewritten whenever the steps move.
"use strict";

(() => {
  const list = document.querySelector("[data-steps]");
  const template = document.getElementById("step-template");
  const total = document.querySelector("input[name=steps-TOTAL_FORMS]");
  const max = Number(document.querySelector("input[name=steps-MAX_NUM_FORMS]")?.value || 10);
  if (!list || !template || !total) return;

  const renumber = () => {
    list.querySelectorAll("[data-step]").forEach((step, index) => {
      step.querySelector("[data-step-number]").textContent = index + 1;
      const order = step.querySelector("input[name$=-ORDER]");
      if (order) order.value = index + 1;
    });
  };

  document.querySelector("[data-add-step]")?.addEventListener("click", () => {
    const index = Number(total.value);
    if (index >= max) return;
    const html = template.innerHTML.replaceAll("__prefix__", String(index));
    list.insertAdjacentHTML("beforeend", html);
    total.value = index + 1;
    renumber();
    list.lastElementChild.querySelector("input[name$=-label]")?.focus();
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (!button) return;
    const step = button.closest("[data-step]");
    if (button.dataset.move === "-1" && step.previousElementSibling) {
      list.insertBefore(step, step.previousElementSibling);
    } else if (button.dataset.move === "1" && step.nextElementSibling) {
      list.insertBefore(step.nextElementSibling, step);
    }
    renumber();
    button.focus();
  });

  list.addEventListener("change", (event) => {
    if (!event.target.matches("input[name$=-DELETE]")) return;
    event.target.closest("[data-step]").classList.toggle("step--removed", event.target.checked);
  });

  renumber();
})();
