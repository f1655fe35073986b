// The idsync console's script: only what earns it — live import progress,
// type-ahead suggestions, copy buttons and the mapping preview. Every page
// reads and works without it.
"use strict";

// Live progress: a section with data-progress polls its status URL and
// fills the elements with data-field until the run ends. A run that ends
// with errors, or pauses, while watched is reloaded: the page then lists
// them, or offers Confirm and Cancel.
function progress(section) {
  const url = section.dataset.progress;
  const tick = async () => {
    let s;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) { return; }
      s = await r.json();
    } catch (e) { setTimeout(tick, 2000); return; }
    for (const el of section.querySelectorAll("[data-field]")) {
      const v = s[el.dataset.field];
      if (v !== undefined) { el.textContent = String(v); }
    }
    if (s.ended) {
      if (section.dataset.running === "1" && (s.state === "paused by safeguard" || s.errors > 0)) { location.reload(); }
      return;
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

// Type-ahead: an input with data-typeahead fills its datalist with the
// users and groups whose names start with what was typed.
function typeahead(input) {
  const list = document.getElementById(input.getAttribute("list"));
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (q.length < 1 || q.includes(":")) { return; }
      const r = await fetch(input.dataset.typeahead + "?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      if (!r.ok) { return; }
      const items = await r.json();
      list.replaceChildren();
      for (const it of items) {
        if (input.hasAttribute("data-users-only") && !it.value.startsWith("user:")) { continue; }
        const o = document.createElement("option");
        o.value = input.hasAttribute("data-users-only") ? it.value.slice(5) : it.value;
        o.label = it.label;
        o.textContent = it.label;
        list.append(o);
      }
    }, 150);
  });
}

// Copy buttons: data-copy names the element whose text is copied.
function copyButton(button) {
  button.addEventListener("click", async () => {
    const el = document.querySelector(button.dataset.copy);
    if (!el) { return; }
    await navigator.clipboard.writeText(el.textContent.trim());
    const was = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = was; }, 1500);
  });
}

// Mapping preview: the form fetches the preview into its pane instead of
// loading the page again.
function preview(form) {
  const pane = document.getElementById(form.dataset.preview);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const params = new URLSearchParams(new FormData(form));
    params.set("part", "preview");
    const r = await fetch(form.action + "?" + params.toString(), { credentials: "same-origin" });
    const text = await r.text();
    if (r.ok) {
      const doc = new DOMParser().parseFromString(text, "text/html");
      pane.replaceChildren(...doc.body.childNodes);
    } else {
      form.submit();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-progress]").forEach(progress);
  document.querySelectorAll("input[data-typeahead]").forEach(typeahead);
  document.querySelectorAll("button[data-copy]").forEach(copyButton);
  document.querySelectorAll("form[data-preview]").forEach(preview);
});
