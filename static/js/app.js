// Small behaviours htmx does not cover. No framework, no build step.
"use strict";

// Close an open menu when clicking elsewhere or pressing Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    menu.removeAttribute("open");
    menu.querySelector("summary")?.focus();
  }
});

// A menu closes once one of its actions is chosen: htmx answers in place, so nothing else would.
document.addEventListener("htmx:beforeRequest", (event) => {
  event.detail.elt.closest?.("details.menu[open]")?.removeAttribute("open");
});
document.addEventListener("submit", (event) => {
  event.target.closest("details.menu[open]")?.removeAttribute("open");
});

// An open menu stays inside the window: shifted left when it would pass the right edge, and
// scrolling inside itself when it would pass the bottom. (Column menus are placed by grid.js.)
// "toggle" fires after the menu has opened: the panel stays hidden (app.css) until it is placed,
// so it never shows for a frame where it does not belong.
document.addEventListener("toggle", (event) => {
  const menu = event.target;
  if (!menu.matches?.("details.menu")) return;
  const panel = menu.querySelector(":scope > .menu__panel");
  if (!panel) return;
  if (!menu.open) {
    panel.classList.remove("menu__panel--placed");
    return;
  }
  if (menu.matches(".grid__menu")) return;
  panel.style.transform = "";
  panel.style.maxHeight = "";
  const box = panel.getBoundingClientRect();
  const margin = 8;
  let shift = 0;
  if (box.right > window.innerWidth - margin) shift = window.innerWidth - margin - box.right;
  if (box.left + shift < margin) shift = margin - box.left;
  if (shift) panel.style.transform = `translateX(${Math.round(shift)}px)`;
  if (box.bottom > window.innerHeight - margin) {
    panel.style.maxHeight = `${Math.max(120, window.innerHeight - margin - box.top)}px`;
    panel.style.overflowY = "auto";
  }
  panel.classList.add("menu__panel--placed");
}, true); // "toggle" does not bubble
// Menus are hidden until placed only once this script runs; one opened before is placed now.
document.documentElement.classList.add("menus-placed");
for (const menu of document.querySelectorAll("details.menu[open]:not(.grid__menu)")) {
  menu.dispatchEvent(new Event("toggle"));
}

// A confirm step loaded by htmx into the page's dialog opens as a modal: the focus goes to its
// main button; Escape or "Cancel" closes it, and so does sending its form.
let dialogOpener = null; // where the focus goes back to when the dialog closes
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.target?.id !== "confirm-dialog") return;
  // A menu item that opened it is hidden once its menu closes: its menu's button takes the focus.
  const menu = event.detail.elt.closest("details.menu");
  dialogOpener = menu ? menu.querySelector("summary") : event.detail.elt;
});
document.addEventListener("htmx:afterSwap", (event) => {
  const dialog = event.detail.target;
  if (dialog.id !== "confirm-dialog") return;
  if (!dialog.open) dialog.showModal();
  dialog.querySelector("[autofocus]")?.focus();
});
document.addEventListener("close", (event) => {
  if (event.target.id !== "confirm-dialog") return;
  if (dialogOpener?.isConnected) dialogOpener.focus();
  dialogOpener = null;
}, true); // "close" does not bubble
document.addEventListener("click", (event) => {
  const close = event.target.closest("#confirm-dialog [data-close-dialog]");
  if (!close) return;
  event.preventDefault();
  close.closest("dialog").close();
});
document.addEventListener("htmx:beforeRequest", (event) => {
  const dialog = document.getElementById("confirm-dialog");
  if (dialog?.open && dialog.contains(event.detail.elt)) dialog.close();
});

// A run's time left counts down between polls. A later estimate a little above the countdown
// (the last answers are often the slow ones) is not believed, so the time left does not jitter
// up; a clearly longer one is (the run slowed down: rate limits, a slower API). When to say
// "finishing…" is the server's call: it knows when only cells in flight remain.
(() => {
  const ends = new Map(); // run id -> when its countdown reaches zero (ms)
  const spoken = (seconds) => {
    if (seconds < 60) return `${seconds} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
    return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes / 60} h`;
  };
  const believed = (now, estimate, previous) => {
    if (previous === undefined || previous <= now || estimate <= previous) return estimate;
    const slack = Math.max(5000, 0.25 * (previous - now));
    return estimate - previous > slack ? estimate : previous;
  };
  const countDown = () => {
    const now = Date.now();
    for (const eta of document.querySelectorAll(".run-progress__eta[data-eta-s]")) {
      const end = believed(now, now + Number(eta.dataset.etaS) * 1000, ends.get(eta.dataset.run));
      ends.set(eta.dataset.run, end);
      eta.textContent = `about ${spoken(Math.max(1, Math.round((end - now) / 1000)))} left`;
    }
  };
  document.addEventListener("htmx:afterSettle", countDown);
  document.addEventListener("DOMContentLoaded", countDown);
})();

// Widths the server computes (a run's progress bar) arrive as data-width="40": a style
// attribute would need 'unsafe-inline' in the Content-Security-Policy; setting it here does not.
htmx.onLoad((root) => {
  for (const bar of root.querySelectorAll?.("[data-width]") ?? []) {
    bar.style.width = `${Number(bar.dataset.width) || 0}%`;
  }
});
