// The dashboard: small SVG charts drawn from /api/v1/dashboard (first from the JSON in the
// page), the cards and tables redrawn every 5 s. Pause stops the polling.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = { accept: "#2e8b57", reject: "#c0392b", challenge: "#e0a030", drop: "#7f8c8d",
                   ack: "#2e8b57", nak: "#c0392b", timeout: "#e67e22" };
  const OTHER = ["#5d6d7e", "#85929e", "#aab7b8", "#34495e"];
  const charts = document.getElementById("rate-charts");
  const status = document.getElementById("dash-status");
  const toggle = document.getElementById("dash-toggle");
  const windowName = charts.dataset.window;
  let paused = false;
  let timer = null;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function color(result, i) { return COLORS[result] || OTHER[i % OTHER.length]; }
  function hhmm(iso) { return iso.slice(11, 16); }

  // One stacked bar chart per protocol: a bar per minute, a segment per result.
  function drawRates(data) {
    charts.replaceChildren();
    const byProtocol = new Map();
    for (const s of data.rates) {
      if (!byProtocol.has(s.protocol)) byProtocol.set(s.protocol, []);
      byProtocol.get(s.protocol).push(s);
    }
    if (!byProtocol.size) {
      const p = document.createElement("p");
      p.textContent = "No decisions in the last 60 minutes.";
      charts.appendChild(p);
      return;
    }
    const n = data.minutes.length, w = 6, h = 100, left = 34, bottom = 16;
    for (const [protocol, series] of byProtocol) {
      const box = document.createElement("div");
      box.className = "chart";
      box.dataset.protocol = protocol;
      const title = document.createElement("h3");
      const total = series.reduce((a, s) => a + s.counts.reduce((x, y) => x + y, 0), 0);
      title.textContent = protocol.toUpperCase() + " (" + total + " in 60 min)";
      box.appendChild(title);
      const svg = el("svg", { width: left + n * w + 4, height: h + bottom + 4,
                              role: "img", "aria-label": protocol + " decisions per minute" }, box);
      let top = 1;
      for (let i = 0; i < n; i++) {
        top = Math.max(top, series.reduce((a, s) => a + s.counts[i], 0));
      }
      el("line", { x1: left, y1: 2, x2: left + n * w, y2: 2, stroke: "#ddd" }, svg);
      el("line", { x1: left, y1: h + 2, x2: left + n * w, y2: h + 2, stroke: "#999" }, svg);
      const label = (x, y, text, anchor) => {
        const t = el("text", { x: x, y: y, "font-size": 10, fill: "#555", "text-anchor": anchor }, svg);
        t.textContent = text;
      };
      label(left - 4, 10, String(top), "end");
      label(left - 4, h + 2, "0", "end");
      label(left, h + bottom + 2, hhmm(data.minutes[0]), "start");
      label(left + n * w, h + bottom + 2, hhmm(data.minutes[n - 1]) + " UTC", "end");
      for (let i = 0; i < n; i++) {
        let y = h + 2;
        series.forEach((s, k) => {
          const v = s.counts[i];
          if (!v) return;
          const bh = (v / top) * h;
          y -= bh;
          const r = el("rect", { x: left + i * w, y: y, width: w - 1, height: bh,
                                 fill: color(s.result, k), "data-result": s.result }, svg);
          el("title", {}, r).textContent = hhmm(data.minutes[i]) + " UTC: " + v + " " + s.result;
        });
      }
      const legend = document.createElement("div");
      legend.className = "legend";
      series.forEach((s, k) => {
        const span = document.createElement("span");
        const i = document.createElement("i");
        i.style.background = color(s.result, k);
        span.appendChild(i);
        span.appendChild(document.createTextNode(s.result));
        legend.appendChild(span);
      });
      box.appendChild(legend);
      charts.appendChild(box);
    }
  }

  function ago(now, iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.floor((Date.parse(now) - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 172800) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " days ago";
  }
  function cells(tr, values) {
    for (const v of values) {
      const td = tr.insertCell();
      if (v instanceof Node) td.appendChild(v); else td.textContent = v;
    }
    return tr;
  }
  function link(href, text) {
    const a = document.createElement("a");
    a.href = href; a.textContent = text;
    return a;
  }
  function none(body, span, text) {
    const tr = body.insertRow();
    tr.className = "none";
    const td = tr.insertCell();
    td.colSpan = span; td.textContent = text;
  }

  function drawTables(data) {
    document.getElementById("card-requests").textContent = data.requests;
    document.getElementById("card-rejects").textContent = data.rejects;
    document.getElementById("card-rejects-box").classList.toggle("bad", data.rejects > 0);
    const share = document.getElementById("card-reject-share");
    if (share && data.requests) share.textContent = (100 * data.rejects / data.requests).toFixed(1);
    document.getElementById("card-sessions").textContent = data.active_sessions;
    document.getElementById("card-nas").textContent =
      data.nas.filter((n) => n.state === "ok").length + "/" + data.nas.length;

    const rejects = document.querySelector("#top-rejects tbody");
    rejects.replaceChildren();
    const top = Math.max(1, ...data.top_rejects.map((r) => r.count));
    for (const r of data.top_rejects) {
      const bar = el("svg", { width: "100%", height: 10, viewBox: "0 0 100 10",
                              preserveAspectRatio: "none", "aria-hidden": "true" });
      el("rect", { width: (100 * r.count / top).toFixed(1), height: 10, fill: "#c0392b" }, bar);
      const tr = cells(rejects.insertRow(), [link(r.log_url, String(r.reason_code)), r.words,
                                             r.example, String(r.count), bar]);
      tr.className = "reject"; tr.dataset.code = r.reason_code;
      tr.cells[4].className = "bar";
    }
    if (!data.top_rejects.length) none(rejects, 5, "No rejects in the window.");

    const nas = document.querySelector("#nas-health tbody");
    nas.replaceChildren();
    for (const n of data.nas) {
      const name = document.createElement("span");
      if (n.name) name.appendChild(link("/log?nas=" + encodeURIComponent(n.name), n.name));
      else name.textContent = "(no name)";
      if (!n.known) {
        const em = document.createElement("em");
        em.textContent = " (not a configured client)";
        name.appendChild(em);
      }
      const state = n.state === "ok" ? "\u2714 ok" : n.state === "quiet" ? "\u26a0 quiet" : "\u2014 never seen";
      const tr = cells(nas.insertRow(), [name, state, n.addresses.join(", "), ago(data.now, n.last_seen),
                                         String(n.requests), String(n.rejects), ago(data.now, n.last_request)]);
      tr.className = "nas-" + n.state; tr.dataset.nas = n.name || "";
    }
    if (!data.nas.length) none(nas, 7, "No NAS clients configured.");
  }

  function draw(data) {
    drawRates(data);
    drawTables(data);
    status.textContent = "as of " + data.now.slice(11, 19) + " UTC";
  }

  async function refresh() {
    timer = null;
    if (paused) return;
    try {
      const res = await fetch("/api/v1/dashboard?window=" + encodeURIComponent(windowName),
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) { status.textContent = "signed out: log in again"; return; }
      if (!res.ok) throw new Error("HTTP " + res.status);
      draw(await res.json());
    } catch (err) {
      status.textContent = "refresh failed (" + err.message + "); retrying";
    }
    if (!paused) timer = setTimeout(refresh, 5000);
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
    if (paused) {
      if (timer) clearTimeout(timer);
      timer = null;
      status.textContent += " (paused)";
    } else if (!timer) {
      refresh();
    }
  });
  draw(JSON.parse(document.getElementById("dashboard-data").textContent));
  timer = setTimeout(refresh, 5000);
})();
