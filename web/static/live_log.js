// The live log: every 2 s, ask /api/v1/audit for rows newer than the newest shown (same
// filters) and put them on top; a row alike the top one (same user, MAC, NAS, result,
// reason) adds to its "x N" instead when repeats are collapsed. Pause stops the polling.
"use strict";
(function () {
  const table = document.getElementById("log");
  if (!table || table.dataset.live !== "1") return;
  const body = table.tBodies[0];
  const status = document.getElementById("live-status");
  const toggle = document.getElementById("live-toggle");
  const gap = document.getElementById("live-gap");
  const collapse = table.dataset.collapse === "1";
  let after = Number(table.dataset.after || 0);
  let paused = false;
  let timer = null;
  let inflight = false;

  function keyOf(item) {
    return [item.protocol, item.username, item.mac, item.nas_name || item.nas_ip,
            item.result, item.reason_code, item.reason];
  }
  function sameKey(a, b) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }
  function enc(s) { return encodeURIComponent(s); }
  function onlyUrl(name, value) {
    const q = new URLSearchParams(table.dataset.filters);
    q.set(name, value);
    return "/log?" + q.toString();
  }
  function td(tr, text, href, cls) {
    const cell = tr.insertCell();
    if (cls) cell.className = cls;
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      cell.appendChild(a);
    } else {
      cell.textContent = text;
    }
    return cell;
  }
  function only(cell, name, value, title) {
    const a = document.createElement("a");
    a.className = "only"; a.href = onlyUrl(name, value); a.title = title;
    a.textContent = "\u2315";
    cell.appendChild(a);
  }
  function rowFor(item) {
    const tr = document.createElement("tr");
    tr.className = item.result;
    tr.dataset.id = item.id;
    tr.dataset.repeats = "1";
    tr.dataset.key = JSON.stringify(keyOf(item));
    td(tr, item.ts.replace("T", " ").slice(0, 19), "/log/" + item.id);
    td(tr, item.stream || item.protocol);
    const nas = item.nas_name || item.nas_ip;
    const nasCell = td(tr, nas || "-");
    if (nas) only(nasCell, "nas", nas, "only this NAS");
    const user = item.username;
    const userCell = td(tr, user || "-",
      user ? "/users#user-" + enc(user) + ":~:text=" + enc(user) : null);
    if (user) only(userCell, "user", user, "only this user");
    const mac = item.mac;
    const macCell = td(tr, mac || "-",
      mac ? "/endpoints#endpoint-" + mac + ":~:text=" + enc(mac) : null);
    if (mac) only(macCell, "mac", mac, "only this MAC");
    td(tr, item.ssid || "");
    td(tr, item.method || "-");
    const verdict = item.result === "reject" ? "\u2716 REJECT"
      : item.result === "accept" ? "\u2714 accept" : item.result;
    td(tr, verdict, null, "verdict result-" + item.result);
    td(tr, String(item.reason_code));
    td(tr, item.reason, "/log/" + item.id);
    const rule = item.authorization_rule || item.authentication_rule;
    td(tr, (item.policy_set || "") + (rule ? " / " + rule : ""));
    td(tr, (item.latency_us / 1000).toFixed(1) + " ms");
    tr.classList.add("fresh");
    return tr;
  }
  function addRepeat(tr, item) {
    const n = Number(tr.dataset.repeats || 1) + 1;
    tr.dataset.repeats = String(n);
    tr.dataset.id = item.id;
    const first = tr.cells[0];
    const link = first.querySelector("a");
    link.href = "/log/" + item.id;
    link.textContent = item.ts.replace("T", " ").slice(0, 19);
    let badge = first.querySelector("a.repeats");
    if (!badge) {
      badge = document.createElement("a");
      badge.className = "repeats";
      first.appendChild(badge);
    }
    badge.textContent = "\u00d7\u00a0" + n;
    badge.title = n + " alike decisions in a row";
    const q = new URLSearchParams(table.dataset.filters);
    for (const [name, value] of [["user", item.username], ["mac", item.mac],
        ["result", item.result], ["reason_code", String(item.reason_code)]]) {
      if (value) q.set(name, value);
    }
    q.set("collapse", "0");
    q.set("before", String(item.id + 1));
    badge.href = "/log?" + q.toString();
    tr.classList.remove("fresh"); void tr.offsetWidth; tr.classList.add("fresh");
  }
  function show(items) {
    const none = body.querySelector("tr.none");
    if (items.length && none) none.remove();
    for (const item of items.slice().reverse()) {  // oldest first, each on top
      const top = body.rows[0];
      if (collapse && top && top.dataset.key && sameKey(JSON.parse(top.dataset.key), keyOf(item))) {
        addRepeat(top, item);
      } else {
        body.insertBefore(rowFor(item), top || null);
      }
      after = Math.max(after, item.id);
    }
  }
  async function poll() {
    timer = null;
    if (paused || inflight) return;
    inflight = true;
    const q = new URLSearchParams(table.dataset.filters);
    if (after > 0) q.set("after_id", String(after));
    q.set("limit", "100");
    try {
      const res = await fetch("/api/v1/audit?" + q.toString(),
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) {
        status.textContent = "signed out: log in again"; status.className = "off"; paused = true;
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const page = await res.json();
      show(page.items);
      if (page.next_before !== null && after > 0) gap.hidden = false;
      status.textContent = "live, checked " + new Date().toISOString().slice(11, 19) + " UTC";
      status.className = "on";
    } catch (err) {
      status.textContent = "live, last check failed (" + err.message + "); retrying";
      status.className = "off";
    } finally {
      inflight = false;
    }
    if (!paused) timer = setTimeout(poll, 2000);
  }
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
    if (paused) {
      if (timer) clearTimeout(timer);
      timer = null;
      status.textContent = "paused"; status.className = "off";
    } else if (!timer) {
      poll();
    }
  });
  timer = setTimeout(poll, 2000);
})();
