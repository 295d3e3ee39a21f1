// The dashboard's script (a file of its own: the page's policy allows no inline script).
// It never sees a key: the session cookie (HttpOnly) goes with each same-origin fetch.
"use strict";
const REFRESH_MS = Number(document.body.dataset.refreshMs) || 5000;
const INTAKE = document.body.dataset.intakeUrl || "";
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function age(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m";
}
function render(data) {
  for (const name of ["routed_last_hour", "quarantined", "manual_adjustment", "open_alerts", "acknowledged_alerts"]) {
    document.getElementById(name).textContent = data[name];
  }
  for (const status of ["open", "acknowledged"]) {
    document.getElementById(status + "_alerts_oldest").textContent = age(data.alerts[status].oldest_age_s);
  }
  let priority = 0, overdue = 0;
  const body = document.getElementById("queues"); body.replaceChildren();
  for (const q of data.queues) {
    priority += q.priority_depth; overdue += q.overdue;
    const tr = document.createElement("tr"); if (q.overdue > 0) tr.className = "overdue";
    tr.append(cell(q.queue), cell(q.depth, "num"), cell(q.oldest_at || "-"), cell(q.priority_depth, "num"), cell(q.overdue, "num"));
    body.append(tr);
  }
  document.getElementById("priority_total").textContent = priority;
  document.getElementById("overdue_total").textContent = overdue;
  const recent = document.getElementById("recent"); recent.replaceChildren();
  for (const r of data.recent) {
    const tr = document.createElement("tr"); const td = document.createElement("td");
    const a = document.createElement("a"); a.href = INTAKE + "/v1/documents/" + r.document_id; a.textContent = r.document_id;
    td.append(a); tr.append(td, cell(r.queue), cell(r.priority ? "yes" : ""), cell(r.at_risk ? "yes" : ""), cell(r.routed_at));
    recent.append(tr);
  }
  document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
}
async function refresh() {
  try {
    const response = await fetch("/v1/dashboard/summary", {credentials: "same-origin"});
    if (response.status === 401 || response.status === 403) {
      document.getElementById("login").hidden = false;
      document.getElementById("logout").hidden = true;
      document.getElementById("refused").hidden = location.hash !== "#refused";
      document.getElementById("status").textContent = "log in with an ops:read key";
      return;
    }
    if (!response.ok) { document.getElementById("status").textContent = "error " + response.status; return; }
    document.getElementById("login").hidden = true;
    document.getElementById("logout").hidden = false;
    render(await response.json());
  } catch (e) { document.getElementById("status").textContent = "unreachable, retrying"; }
}
refresh(); setInterval(refresh, REFRESH_MS);
