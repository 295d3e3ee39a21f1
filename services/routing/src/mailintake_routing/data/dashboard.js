// The dashboard's script (a file of its own: the page's policy allows no inline script).
// It never sees a key: the session cookie (HttpOnly) goes with each same-origin fetch.
"use strict";
const REFRESH_MS = Number(document.body.dataset.refreshMs) || 5000;
const INTAKE = document.body.dataset.intakeUrl || "";
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function setText(id, text) { document.getElementById(id).textContent = text; }
// A humanised age: "45 s", "12 min", "3 h", "2 d 4 h".
function age(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return Math.max(0, Math.floor(seconds)) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h";
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
  return h ? d + " d " + h + " h" : d + " d";
}
function since(iso) { return iso ? age((Date.now() - Date.parse(iso)) / 1000) : "-"; }
function docLink(id) {
  const td = document.createElement("td"); const a = document.createElement("a");
  a.href = INTAKE + "/v1/documents/" + id; a.textContent = id; td.append(a); return td;
}
function rows(id, items, build) {
  const body = document.getElementById(id); body.replaceChildren();
  for (const item of items) body.append(build(item));
}
function chart(perMinute) {
  const series = [perMinute.received, perMinute.routed];
  const peak = Math.max(1, ...series.flat());
  const n = perMinute.received.length;
  for (const [name, values] of [["received", series[0]], ["routed", series[1]]]) {
    const points = values.map((v, i) => (n > 1 ? (i * 1000 / (n - 1)).toFixed(1) : "0") + "," + (155 - v * 150 / peak).toFixed(1));
    const line = document.getElementById("line_" + name);
    line.setAttribute("points", points.join(" ")); line.dataset.points = String(values.length);
  }
  setText("chart_hours", Math.round(n / 60)); setText("chart_peak", Math.max(...series.flat(), 0));
  setText("chart_start", new Date(Date.parse(perMinute.start)).toLocaleTimeString());
}
function render(data) {
  for (const name of ["routed_last_hour", "quarantined", "manual_adjustment", "open_alerts", "acknowledged_alerts", "not_yet_routed", "failed"]) {
    setText(name, data[name]);
  }
  for (const stage of ["received", "screened", "classified"]) setText("stage_" + stage, data.stages[stage]);
  for (const status of ["open", "acknowledged"]) setText(status + "_alerts_oldest", age(data.alerts[status].oldest_age_s));
  const letters = Object.entries(data.dead_letters);
  setText("dead_letters_total", letters.reduce((sum, [, count]) => sum + count, 0));
  rows("dead_letters", letters, ([group, count]) => { const tr = document.createElement("tr"); tr.append(cell(group), cell(count, "num")); return tr; });
  let priority = 0, overdue = 0;
  rows("queues", data.queues, (q) => {
    priority += q.priority_depth; overdue += q.overdue;
    const tr = document.createElement("tr"); if (q.overdue > 0) tr.className = "overdue";
    tr.append(cell(q.queue), cell(q.depth, "num"), cell(since(q.oldest_at)), cell(q.priority_depth, "num"), cell(q.overdue, "num"));
    return tr;
  });
  setText("priority_total", priority); setText("overdue_total", overdue);
  rows("open_items", data.open_items, (item) => {
    const tr = document.createElement("tr"); if (item.overdue) tr.className = "overdue";
    tr.append(docLink(item.document_id), cell(item.queue), cell(age(item.age_s)),
      cell(item.due_by ? (item.overdue ? "overdue " + since(item.due_by) : new Date(Date.parse(item.due_by)).toLocaleString()) : "-"),
      cell(item.priority ? "yes" : ""), cell(item.at_risk ? "yes" : ""));
    return tr;
  });
  rows("failed_documents", data.failed_documents, (f) => {
    const tr = document.createElement("tr"); tr.append(docLink(f.document_id), cell(f.stage || "-"), cell(since(f.failed_at) + " ago")); return tr;
  });
  rows("recent", data.recent, (r) => {
    const tr = document.createElement("tr");
    tr.append(docLink(r.document_id), cell(r.queue), cell(r.priority ? "yes" : ""), cell(r.at_risk ? "yes" : ""), cell(since(r.routed_at) + " ago"));
    return tr;
  });
  chart(data.per_minute);
  setText("status", "updated " + new Date().toLocaleTimeString());
}
async function refresh() {
  try {
    const response = await fetch("/v1/dashboard/summary", {credentials: "same-origin"});
    if (response.status === 401 || response.status === 403) {
      document.getElementById("login").hidden = false;
      document.getElementById("logout").hidden = true;
      document.getElementById("refused").hidden = location.hash !== "#refused";
      setText("status", "log in with an ops:read key");
      return;
    }
    if (!response.ok) { setText("status", "error " + response.status); return; }
    document.getElementById("login").hidden = true;
    document.getElementById("logout").hidden = false;
    render(await response.json());
  } catch (e) { setText("status", "unreachable, retrying"); }
}
refresh(); setInterval(refresh, REFRESH_MS);
