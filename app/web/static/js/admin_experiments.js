/* digitserve admin page: the experiment section. Per arm, accuracy over time with its anytime-valid
 * confidence band (from /admin/report `experiments`), the verdict and the SRM status. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var svg = DS.svg;
  var COLOURS = ["#2f6fde", "#d9822b", "#1f8a54", "#8e44ad"];

  var $ = function (id) {
    return document.getElementById(id);
  };

  function num(x) {
    return typeof x === "number" && isFinite(x);
  }

  /* Accuracy (y) against time (x) per arm: the line is the estimate, the shaded band the
   * confidence sequence at each moment (valid however often it is looked at). */
  function renderChart(arms) {
    var box = $("experiments-chart");
    box.replaceChildren();
    var points = [];
    arms.forEach(function (a) {
      (a.history || []).forEach(function (p) {
        points.push({ t: Date.parse(p.at), p: p });
      });
    });
    if (!points.length) {
      box.appendChild(el("p", { className: "muted" }, "No feedback in this phase yet."));
      return;
    }
    var W = 600, H = 240, L = 48, R = 90, T = 10, B = 28;
    var t0 = Math.min.apply(null, points.map(function (x) { return x.t; }));
    var t1 = Math.max.apply(null, points.map(function (x) { return x.t; }));
    var lows = points.map(function (x) { return num(x.p.cs_low) ? x.p.cs_low : x.p.accuracy; });
    var yMin = Math.max(0, Math.floor(Math.min.apply(null, lows) * 10) / 10);
    var sx = function (t) { return L + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - L - R) : (W - L - R) / 2); };
    var sy = function (v) { return T + (1 - (v - yMin) / (1 - yMin || 1)) * (H - T - B); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", class: "chart-svg" });
    root.appendChild(svg("title", {}, "Accuracy per arm over time with its confidence sequence"));
    [yMin, (yMin + 1) / 2, 1].forEach(function (v) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: "#dde1e7" }));
      root.appendChild(svg("text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end", "font-size": 11 }, DS.pct(v)));
    });
    root.appendChild(svg("text", { x: L, y: H - 8, "font-size": 11 }, new Date(t0).toLocaleString()));
    root.appendChild(svg("text", { x: W - R, y: H - 8, "font-size": 11, "text-anchor": "end" }, new Date(t1).toLocaleString()));
    arms.forEach(function (a, i) {
      var hist = (a.history || []).filter(function (p) { return num(p.accuracy); });
      if (!hist.length) return;
      var colour = COLOURS[i % COLOURS.length];
      var banded = hist.filter(function (p) { return num(p.cs_low) && num(p.cs_high); });
      if (banded.length) {
        var upper = banded.map(function (p) { return sx(Date.parse(p.at)) + "," + sy(p.cs_high); });
        var lower = banded.slice().reverse().map(function (p) { return sx(Date.parse(p.at)) + "," + sy(p.cs_low); });
        root.appendChild(svg("polygon", { points: upper.concat(lower).join(" "), fill: colour, "fill-opacity": 0.15, stroke: "none" }));
      }
      var line = hist.map(function (p) { return sx(Date.parse(p.at)) + "," + sy(p.accuracy); }).join(" ");
      root.appendChild(svg("polyline", { points: line, fill: "none", stroke: colour, "stroke-width": 2 }));
      var last = hist[hist.length - 1];
      root.appendChild(svg("text", { x: W - R + 6, y: sy(last.accuracy) + 4, fill: colour, "font-size": 12 }, a.arm + " " + DS.pct(last.accuracy)));
    });
    box.appendChild(root);
  }

  function interval(lo, hi) {
    return num(lo) && num(hi) ? "[" + DS.pct(lo) + ", " + DS.pct(hi) + "]" : "–";
  }

  function srmText(srm) {
    srm = srm || {};
    var parts = ["SRM: " + DS.text(srm.status)];
    if (srm.observed_users) parts.push("users " + JSON.stringify(srm.observed_users) + " for weights " + JSON.stringify(srm.expected_weights));
    if (num(srm.chi2_p_value)) parts.push("chi-square p = " + srm.chi2_p_value.toPrecision(3));
    if (num(srm.sequential_p_value)) parts.push("sequential p = " + srm.sequential_p_value.toPrecision(3));
    if (srm.reason) parts.push(String(srm.reason));
    return parts.join("; ");
  }

  function render(x) {
    var phase = "Experiment " + DS.text(x.experiment) + ", phase " + DS.text(x.phase) + " (" + DS.text(x.mode) + ")";
    $("experiments-phase").textContent = phase + (x.exploratory ? " — exploratory: bandit allocation, no winner is named" : "");
    $("experiments-verdict").textContent = (x.winner ? "Winner: " + x.winner + ". " : "No winner: ") + DS.text(x.verdict);
    var srm = $("experiments-srm");
    srm.textContent = srmText(x.srm);
    srm.className = x.srm && x.srm.status === "failing" ? "error" : "muted";
    srm.dataset.status = (x.srm && x.srm.status) || "";
    var tbody = $("experiments-table").tBodies[0];
    tbody.replaceChildren();
    (x.arms || []).forEach(function (a) {
      tbody.appendChild(el("tr", null, [
        el("td", null, DS.text(a.arm)),
        el("td", null, DS.text(a.weight)),
        el("td", null, DS.text(a.assigned_users)),
        el("td", null, DS.text(a.users)),
        el("td", null, DS.text(a.n)),
        el("td", null, DS.pct(a.accuracy)),
        el("td", null, interval(a.cs_low, a.cs_high)),
      ]));
    });
    var d = x.difference;
    $("experiments-difference").textContent = d
      ? d.arms.join(" − ") + ": " + (num(d.estimate) ? (100 * d.estimate).toFixed(2) + " points" : "–") + ", confidence sequence " + interval(d.cs_low, d.cs_high)
      : "";
    renderChart(x.arms || []);
  }

  async function load() {
    if (!DS.auth.isAdmin()) return;
    var res = await DS.api("/admin/report");
    var err = document.querySelector('.section-error[data-section="experiments"]');
    if (!res.ok) {
      err.textContent = "Loading the experiment failed: " + DS.messageOf(res.error, false);
      err.hidden = false;
      return;
    }
    err.hidden = true;
    var list = (res.data && res.data.experiments) || [];
    if (list.length) render(list[0]);
    $("experiments").dataset.loaded = "1";
  }

  $("experiments-refresh").addEventListener("click", load);
  $("report-refresh").addEventListener("click", load);
  DS.auth.onChange(function () {
    if (DS.auth.isAdmin()) load();
  });
  load();
})();
