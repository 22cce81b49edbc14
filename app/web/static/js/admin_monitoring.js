/* digitserve admin page: the monitoring section (GET /admin/monitoring). Per alias: estimated
 * accuracy (calibrated confidence) beside feedback accuracy, and the drift p-value against its
 * alarm level. Uses the same DS helpers (api.js) as admin.js. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var svg = DS.svg;
  var P_FLOOR = 1e-6; // the p-value scale runs from 1 down to this

  var $ = function (id) {
    return document.getElementById(id);
  };

  function showError(text) {
    DS.sectionError("monitoring", text);
  }

  /* A p-value as a bar length in [0, 1]: -log10(p) / -log10(P_FLOOR). */
  function pScale(p) {
    if (typeof p !== "number" || !isFinite(p)) return null;
    return Math.min(1, -Math.log10(Math.max(P_FLOOR, p)) / -Math.log10(P_FLOOR));
  }

  function bar(root, x, y, width, value, cls) {
    root.appendChild(svg("rect", { x: x, y: y, width: width, height: 14, class: "chart-track" }));
    if (value === null) return;
    var attrs = { x: x, y: y, width: (value * width).toFixed(1), height: 14, class: cls };
    if (cls.indexOf("chart-alarm") >= 0) attrs.fill = "#c0392b"; // a presentation attribute: no CSS needed
    root.appendChild(svg("rect", attrs));
  }

  function renderChart(rows) {
    var box = $("monitoring-chart");
    box.replaceChildren();
    var labelW = 150;
    var barW = 300;
    var rowH = 70;
    var width = labelW + barW + 140;
    var height = 20 + Math.max(1, rows.length) * rowH;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img", class: "chart-svg" });
    root.appendChild(svg("title", {}, "Estimated and feedback accuracy, and drift p-value, per alias"));
    if (!rows.length) root.appendChild(svg("text", { x: labelW, y: 30, class: "chart-empty" }, "no predictions yet"));
    rows.forEach(function (r, i) {
      var y = 10 + i * rowH;
      var drift = r.drift || {};
      var state = drift.alarm === true ? "ALARM" : drift.alarm === false ? "quiet" : "not tested";
      root.appendChild(svg("text", { x: 0, y: y + 12, class: "chart-title" }, r.alias + " (version " + r.version + ")"));
      root.appendChild(svg("text", { x: 0, y: y + 30, class: "chart-label" }, "n=" + r.window.n + ", " + state));
      var lines = [
        ["estimated", r.estimated_accuracy, "chart-bar chart-bar-0", DS.pct(r.estimated_accuracy)],
        ["feedback", r.feedback_accuracy, "chart-bar chart-bar-1", DS.pct(r.feedback_accuracy) + " (" + r.feedback_n + ")"],
        ["drift p", pScale(drift.p_value), drift.alarm ? "chart-bar chart-alarm" : "chart-bar chart-bar-0",
          typeof drift.p_value === "number" ? drift.p_value.toPrecision(2) : "–"],
      ];
      lines.forEach(function (line, j) {
        var ly = y + 2 + j * 18;
        root.appendChild(svg("text", { x: labelW - 8, y: ly + 12, "text-anchor": "end", class: "chart-label" }, line[0]));
        var value = typeof line[1] === "number" ? Math.max(0, Math.min(1, line[1])) : null;
        bar(root, labelW, ly, barW, value, line[2]);
        root.appendChild(svg("text", { x: labelW + barW + 8, y: ly + 12, class: "chart-value" }, line[3]));
      });
      var alphaX = labelW + pScale(drift.alpha || 0.01) * barW; // the alarm line on the p scale
      root.appendChild(svg("line", { x1: alphaX, x2: alphaX, y1: y + 36, y2: y + 54, class: "chart-ci" }));
    });
    box.appendChild(root);
  }

  function renderTable(rows) {
    var body = $("monitoring-table").tBodies[0];
    body.replaceChildren();
    rows.forEach(function (r) {
      var drift = r.drift || {};
      var test = function (t) {
        return t && typeof t.p_value === "number" ? t.p_value.toPrecision(2) : "–";
      };
      body.appendChild(
        el("tr", { dataset: { alias: DS.text(r.alias), alarm: String(drift.alarm) } }, [
          el("td", null, DS.text(r.alias)),
          el("td", null, DS.text(r.version)),
          el("td", null, DS.text(r.window.n)),
          el("td", null, test(drift.mmd)),
          el("td", null, test(drift.class_chi2)),
          el("td", null, drift.alarm === true ? "ALARM" : drift.alarm === false ? "quiet" : "–"),
          el("td", null, DS.pct(r.estimated_accuracy)),
          el("td", null, DS.pct(r.feedback_accuracy)),
        ])
      );
    });
  }

  async function loadMonitoring() {
    if (!DS.auth.isAdmin()) return;
    var res = await DS.api("/admin/monitoring");
    if (!res.ok) {
      showError(res.status === 403 ? "" : "Monitoring failed: " + DS.messageOf(res.error, false));
      return;
    }
    showError("");
    renderTable(res.data.aliases);
    renderChart(res.data.aliases);
    $("monitoring-computed").textContent = "computed " + DS.text(res.data.computed_at);
  }

  $("monitoring-refresh").addEventListener("click", loadMonitoring);
  DS.auth.onChange(loadMonitoring);
  loadMonitoring();
})();
