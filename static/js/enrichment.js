// The enrichment panel: column picker, token fields for JWT-token-endpoint accounts.
"use strict";

(() => {
  const form = document.getElementById("enrichment-form");
  if (!form) return;

  // Insert "{{ row.key }}" where the cursor was in the last template field used.
  let target = form.querySelector("[data-template-field] input, [data-template-field] textarea");
  form.addEventListener("focusin", (event) => {
    if (event.target.closest("[data-template-field]")) target = event.target;
  });
  for (const chip of document.querySelectorAll("[data-insert]")) {
    chip.addEventListener("click", () => {
      if (!target) return;
      const text = chip.dataset.insert;
      const start = target.selectionStart ?? target.value.length;
      const end = target.selectionEnd ?? target.value.length;
      target.setRangeText(text, start, end, "end");
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.focus();
    });
  }

  // Token location, type and header only matter for a JWT-token-endpoint account.
  const types = JSON.parse(form.dataset.accountTypes || "{}");
  const account = form.querySelector("select[name=account]");
  const tokenFields = form.querySelector("[data-token-fields]");
  const showTokenFields = () => {
    if (!account || !tokenFields) return;
    tokenFields.hidden = types[account.value] !== "jwt_token_endpoint";
  };
  account?.addEventListener("change", showTokenFields);
  showTokenFields();
})();

// Close the cell side panel (Escape or its ✕) and give the focus back to its cell.
function closeCellPanel() {
  const panel = document.getElementById("cell-panel");
  if (!panel || !panel.firstElementChild) return;
  panel.replaceChildren();
  document.querySelector("#grid td.is-active")?.focus();
}
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-panel]")) closeCellPanel();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeCellPanel();
});
