// The page's own behaviour, on top of htmx: the live stream, column order, previews.
"use strict";

(function () {
  const list = () => document.getElementById("export-list");

  function showEmptyNote() {
    const note = document.querySelector(".empty");
    if (note && list()) note.hidden = list().children.length > 0;
  }

  // A row arrives from the stream: replace it in place, or put a new one on top.
  function upsertRow(id, html, statusLabel) {
    const target = list();
    if (!target) return;
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const row = holder.content.firstElementChild;
    const current = document.getElementById("export-" + id);
    if (current) {
      if (current.outerHTML === row.outerHTML) return;
      const focused = document.activeElement;
      const focusedText = current.contains(focused) ? focused.textContent : null;
      const changed = current.dataset.status !== row.dataset.status;
      current.replaceWith(row);
      if (focusedText) {
        // Keep the keyboard where it was when the row is redrawn under it.
        const same = [...row.querySelectorAll("button, a")].find((el) => el.textContent === focusedText);
        (same || row).focus?.();
      }
      if (changed) announce(row, statusLabel);
    } else {
      target.prepend(row);
    }
    htmx.process(row);
    showEmptyNote();
  }

  function announce(row, statusLabel) {
    const live = document.getElementById("live-status");
    const title = row.querySelector(".export-title");
    if (live && title) live.textContent = title.textContent + ": " + statusLabel;
  }

  // The form's answer and the stream may both bring a new row: keep the first of each id.
  function dropDuplicates() {
    const seen = new Set();
    for (const row of [...(list()?.children || [])]) {
      if (seen.has(row.id)) row.remove();
      else seen.add(row.id);
    }
    showEmptyNote();
  }

  function connect(url) {
    const source = new EventSource(url);
    source.addEventListener("row", (event) => {
      const data = JSON.parse(event.data);
      upsertRow(data.id, data.html, data.status);
    });
    source.addEventListener("usage", (event) => {
      const usage = document.getElementById("usage");
      if (usage) {
        usage.outerHTML = JSON.parse(event.data).html;
      }
    });
    document.body.dataset.liveState = "connecting";
    source.addEventListener("open", () => (document.body.dataset.liveState = "open"));
    source.addEventListener("error", () => (document.body.dataset.liveState = "reconnecting"));
  }

  // Move a column up or down; the form posts columns in page order.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-move]");
    if (!button) return;
    const item = button.closest("li");
    if (button.dataset.move === "up" && item.previousElementSibling) {
      item.previousElementSibling.before(item);
    } else if (button.dataset.move === "down" && item.nextElementSibling) {
      item.nextElementSibling.after(item);
    }
    button.focus();
  });

  // The columns summary counts what is ticked.
  document.addEventListener("change", (event) => {
    const box = event.target.closest("#columns input[name=col]");
    const count = document.querySelector("[data-column-count]");
    if (box && count) {
      count.textContent = document.querySelectorAll("#columns input[name=col]:checked").length;
    }
  });

  // The preview form's action follows the chosen resume.
  document.addEventListener("change", (event) => {
    const select = event.target.closest("[data-preview-document]");
    if (!select) return;
    select.form.action = "/exports/documents/" + encodeURIComponent(select.value) + "/preview";
  });

  // A 503 that carries a notice (the database is away for a moment): htmx leaves error
  // responses unswapped by default, so the user would see nothing; show the notice.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status === 503 && xhr.getResponseHeader("HX-Retarget") === "#notice") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // What to export, chosen while the page still loaded (htmx not yet listening): ask for
  // its fields now, as the change would have.
  function catchUpEarlyChoice() {
    const source = document.getElementById("source");
    if (!source) return;
    const rendered = Math.max(0, [...source.options].findIndex((o) => o.defaultSelected));
    if (source.selectedIndex !== rendered) htmx.trigger(source, "change");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const url = document.body.dataset.live;
    if (url) connect(url);
    document.body.addEventListener("htmx:afterSwap", dropDuplicates);
    showEmptyNote();
    catchUpEarlyChoice();
  });
})();
