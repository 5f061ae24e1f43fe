// K8s Autopilot review UI: the live progress list and a few touches; pages work without it.
"use strict";

(function () {
  const TERMINAL = ["workflow.completed", "workflow.failed", "workflow.rejected", "workflow.cancelled"];

  // Select the line a validation error points at, in the textarea that holds the document.
  function showErrorLine(area) {
    const line = parseInt(area.dataset.errorLine || "", 10);
    if (!line) return;
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    const end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
    const height = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 5) * height);
  }

  function describe(type, data) {
    const parts = [];
    for (const key of ["gate", "decision", "node", "phase", "by", "comment", "message", "status"]) {
      if (data && data[key] !== undefined && data[key] !== null && data[key] !== "") {
        parts.push(key + ": " + (typeof data[key] === "string" ? data[key] : JSON.stringify(data[key])));
      }
    }
    return parts.join(", ");
  }

  // Server-Sent Events read with fetch: EventSource hears only the event names it is told,
  // and the gateway adds new ones; this reader shows them all and resumes with Last-Event-ID.
  function follow(list) {
    const url = list.dataset.events;
    const state = document.getElementById("events-state");
    let lastId = "";
    let ended = false;
    let refreshTimer = null;

    // Re-render the page's parts that change (the state, the decision box) unless a form in
    // them holds something typed: a person's unsent edit is never thrown away.
    function refresh() {
      const parts = ["state", "decide-box"].map((id) => document.getElementById(id)).filter(Boolean);
      if (!parts.length || !window.htmx) return;
      if (parts.some((p) => p.querySelector("[data-dirty]"))) {
        state.textContent = "the workflow moved on: reload to see it (what you typed is kept until then)";
        return;
      }
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => parts.forEach((p) => window.htmx.trigger(p, "refresh")), 250);
    }

    function add(id, type, raw) {
      let data = {};
      try { data = JSON.parse(raw); } catch (e) { data = { message: raw }; }
      const item = document.createElement("li");
      item.className = "ev ev-" + type.split(".")[0];
      const name = document.createElement("span");
      name.className = "ev-type";
      name.textContent = type;
      const text = document.createElement("span");
      text.className = "ev-text";
      text.textContent = describe(type, data);
      item.append(name, text);
      item.dataset.type = type;
      list.append(item);
      const box = list.closest("section");
      if (box) box.scrollTop = box.scrollHeight;
      if (type !== "workflow.step") refresh();
      if (TERMINAL.includes(type)) ended = true;
    }

    async function connect() {
      const headers = { Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      try {
        const response = await fetch(url, { headers, credentials: "same-origin" });
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        state.textContent = "live";
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let id = "", type = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("id:")) id = line.slice(3).trim();
              else if (line.startsWith("event:")) type = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (id) lastId = id;
            if (data.length) add(id, type, data.join("\n"));
          }
        }
      } catch (e) {
        state.textContent = "disconnected, retrying…";
      }
      if (ended) {
        state.textContent = "finished";
        return;
      }
      setTimeout(connect, 2000);
    }
    connect();
  }

  function init() {
    document.querySelectorAll("textarea[data-error-line]").forEach(showErrorLine);
    document.addEventListener("input", (event) => {
      const form = event.target.closest && event.target.closest("#state form, #decide-box form");
      if (form) form.setAttribute("data-dirty", "");
    });
    const list = document.getElementById("events");
    if (list && list.dataset.events && window.fetch && window.TextDecoderStream) follow(list);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
