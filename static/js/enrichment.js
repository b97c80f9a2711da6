// The enrichment and formula panels: column and function pickers, token fields for accounts
// whose columns may set them.
"use strict";

(() => {
  const form = document.getElementById("enrichment-form") || document.getElementById("formula-form");
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
      // A function goes in with its parentheses, the cursor between them.
      if (text.endsWith("()")) target.setSelectionRange(start + text.length - 1, start + text.length - 1);
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.focus();
    });
  }

  // Token location, type and header only matter for an account whose type lets a column set
  // them (a JWT-token-endpoint account): those are the accounts with inherited settings.
  const account = form.querySelector("select[name=account]");
  const tokenFields = form.querySelector("[data-token-fields]");
  // Unless the column overrides them, they are the account's: shown read-only, as inherited.
  const override = form.querySelector("input[name=override_token_settings]");
  const tokenInputs = ["token_location", "token_type", "auth_header_name"]
    .map((name) => form.querySelector(`input[name=${name}]`)).filter(Boolean);
  const inheritedSettings = () => {
    const all = JSON.parse(override?.dataset.accountTokenSettings || "{}");
    return all[account?.value] || null;
  };
  const showTokenFields = () => {
    if (!account || !tokenFields) return;
    const inherited = inheritedSettings();
    tokenFields.hidden = inherited === null;
    const own = override?.checked;
    for (const input of tokenInputs) {
      input.readOnly = !own;
      input.classList.toggle("input--inherited", !own);
      input.title = own ? "" : "From the account";
      if (!own && inherited) input.value = inherited[input.name] ?? "";
    }
  };
  account?.addEventListener("change", showTokenFields);
  override?.addEventListener("change", () => {
    showTokenFields();
    if (override.checked) tokenInputs[0]?.focus();
  });
  showTokenFields();

  // An account added in another tab joins the list without reloading (and losing) this form:
  // the page is fetched again and its account options replace these; a new one is selected.
  async function refreshAccounts() {
    if (!account) return;
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html")
      .querySelector("#enrichment-form select[name=account]");
    if (!fresh) return;
    const known = new Set(Array.from(account.options, (option) => option.value));
    const added = Array.from(fresh.options).find((option) => !known.has(option.value));
    const chosen = added ? added.value : account.value;
    const freshOverride = fresh.closest("form").querySelector("input[name=override_token_settings]");
    if (override && freshOverride) {
      override.dataset.accountTokenSettings = freshOverride.dataset.accountTokenSettings;
    }
    account.replaceChildren(...Array.from(fresh.options, (option) => option.cloneNode(true)));
    account.value = chosen;
    showTokenFields();
  }
  let away = false;
  form.querySelector("[data-accounts-link]")?.addEventListener("click", () => { away = true; });
  window.addEventListener("focus", () => {
    if (away) { away = false; refreshAccounts(); }
  });
  form.querySelector("[data-accounts-refresh]")?.addEventListener("click", refreshAccounts);
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
