// Live status on the connections page: refresh the phase and last-active cells every 5 s.
(function () {
  "use strict";
  const table = document.getElementById("connections");
  if (!table) return;
  async function refresh() {
    try {
      const reply = await fetch("/connections/status", { headers: { accept: "application/json" } });
      if (!reply.ok) return;
      const body = await reply.json();
      for (const c of body.connections) {
        const row = table.querySelector(`tr[data-slug="${CSS.escape(c.slug)}"]`);
        if (!row) continue;
        const phase = row.querySelector(".connection-phase");
        phase.textContent = c.phase;
        phase.title = c.message || "";
        if (c.lastActive) {
          row.querySelector(".connection-last-active").textContent =
            c.lastActive.slice(0, 16).replace("T", " ") + " UTC";
        }
      }
    } catch (_err) {
      // offline or signed out: keep the last known values
    }
  }
  setInterval(refresh, 5000);
})();
