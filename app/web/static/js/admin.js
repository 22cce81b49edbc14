/* digitserve: the admin page. Static shell; every figure comes from the admin-only JSON APIs. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var svg = DS.svg;
  var ACTIVE_STATUSES = ["queued", "pending", "running", "started"];
  var POLL_MS = 2000;

  var $ = function (id) {
    return document.getElementById(id);
  };

  var content = $("admin-content");
  var hint = $("admin-hint");
  var mlflowUi = "";
  var lastJobs = [];
  var jobsPage = 1;
  var socket = null;
  var tracked = null; // {id, timer}
  var reportTimer = null;
  var forbidden = false; // an admin API answered 403 to this sign-in

  /* ---------------- helpers ---------------- */

  var sectionError = DS.sectionError;

  /* Signed in but not an administrator (by the role the sign-in returned, or a 403 since: the role
   * may have been taken away): one message instead of the page, no admin controls. */
  function isAdmin() {
    var user = DS.auth.user;
    return !forbidden && (!user || !user.role || user.role === "admin");
  }

  function showNotAdmin() {
    var user = DS.auth.user;
    var who = user && user.username ? user.username : "this account";
    hint.textContent =
      "This page is for administrators. You are signed in as " + who +
      ", which is not an administrator account: sign out and sign in as an administrator.";
    hint.className = "notice";
    hint.dataset.state = "not-admin";
  }

  /* Handle a failed call: 403 means "not an administrator": the page says it once, in place of the
   * admin sections; others go to the section. */
  function failed(section, what, res) {
    if (res.status === 403) {
      forbidden = true;
      onAuth();
      return;
    }
    if (res.status === 401 && !DS.auth.isSignedIn()) {
      DS.showError("Your session has ended; sign in again.");
      return;
    }
    sectionError(section, what + " failed: " + DS.messageOf(res.error, res.status === 422));
  }

  function safeBase(url) {
    if (!url || typeof url !== "string") return "";
    try {
      var u = new URL(url, window.location.href);
      if (u.protocol !== "http:" && u.protocol !== "https:") return "";
      return u.href.replace(/\/+$/, "");
    } catch (e) {
      return "";
    }
  }

  function link(href, label) {
    var a = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, label);
    return a;
  }

  function runLink(expId, runId) {
    if (!runId) return el("span", { className: "muted" }, "–");
    var short = String(runId).slice(0, 8);
    if (!mlflowUi || expId === undefined || expId === null || expId === "") {
      return el("code", { title: String(runId) }, short);
    }
    var href = mlflowUi + "/#/experiments/" + encodeURIComponent(expId) + "/runs/" + encodeURIComponent(runId);
    return link(href, short);
  }

  function cell(v) {
    return el("td", null, v instanceof Node ? v : DS.text(v));
  }

  function ci(row) {
    if (typeof row.ci_low !== "number" || typeof row.ci_high !== "number") return "–";
    return DS.pct(row.ci_low) + " – " + DS.pct(row.ci_high);
  }

  function ms(v) {
    return typeof v === "number" && isFinite(v) ? v.toFixed(1) + " ms" : "–";
  }

  function fmtDate(v) {
    if (!v) return "–";
    var iso = String(v);
    // The API's timestamps are naive UTC ("2026-01-01T10:00:00"): read them as UTC.
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso)) iso += "Z";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(v) : d.toLocaleString();
  }

  function logEvent(text) {
    var log = $("event-log");
    var item = el("li", null, [el("time", null, new Date().toLocaleTimeString()), " " + text]);
    log.insertBefore(item, log.firstChild);
    while (log.children.length > 20) log.removeChild(log.lastChild);
  }

  /* ---------------- report ---------------- */

  function fillRows(tbody, rows, first) {
    tbody.replaceChildren();
    if (!rows.length) {
      tbody.appendChild(el("tr", null, el("td", { colSpan: 8, className: "muted" }, "No data yet.")));
      return;
    }
    rows.forEach(function (r) {
      tbody.appendChild(
        el("tr", null, [
          cell(first(r)[0]),
          cell(first(r)[1]),
          cell(r.requests),
          cell(r.feedback),
          cell(r.correct),
          cell(DS.pct(r.accuracy)),
          cell(ci(r)),
          cell(ms(r.mean_latency_ms)),
        ])
      );
    });
  }

  /* Horizontal bars: accuracy per version and per arm, with the 95% interval as a whisker. */
  function renderChart(perVersion, perArm) {
    var box = $("accuracy-chart");
    box.replaceChildren();
    var groups = [
      { title: "Per model version", rows: perVersion.map(function (r) { return { label: "model " + DS.text(r.model_version) + (r.alias ? " (" + r.alias + ")" : ""), r: r }; }) },
      { title: "Per A/B arm", rows: perArm.map(function (r) { return { label: DS.text(r.arm), r: r }; }) },
    ];
    var rowH = 26;
    var labelW = 150;
    var barW = 380;
    var width = labelW + barW + 70;
    var height = 10;
    groups.forEach(function (g) {
      height += 24 + Math.max(1, g.rows.length) * rowH + 8;
    });
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img", class: "chart-svg" });
    root.appendChild(svg("title", {}, "Accuracy per model version and per A/B arm"));
    var y = 10;
    groups.forEach(function (g, gi) {
      root.appendChild(svg("text", { x: 0, y: y + 14, class: "chart-title" }, g.title));
      y += 24;
      if (!g.rows.length) {
        root.appendChild(svg("text", { x: labelW, y: y + 17, class: "chart-empty" }, "no data"));
        y += rowH;
      }
      g.rows.forEach(function (item) {
        var acc = typeof item.r.accuracy === "number" ? Math.max(0, Math.min(1, item.r.accuracy)) : null;
        root.appendChild(svg("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "chart-label" }, item.label));
        root.appendChild(svg("rect", { x: labelW, y: y + 4, width: barW, height: rowH - 8, class: "chart-track" }));
        if (acc !== null) {
          root.appendChild(svg("rect", { x: labelW, y: y + 4, width: (acc * barW).toFixed(1), height: rowH - 8, class: "chart-bar chart-bar-" + gi }));
          if (typeof item.r.ci_low === "number" && typeof item.r.ci_high === "number") {
            var x1 = labelW + Math.max(0, item.r.ci_low) * barW;
            var x2 = labelW + Math.min(1, item.r.ci_high) * barW;
            var cy = y + rowH / 2;
            root.appendChild(svg("line", { x1: x1, x2: x2, y1: cy, y2: cy, class: "chart-ci" }));
            root.appendChild(svg("line", { x1: x1, x2: x1, y1: cy - 5, y2: cy + 5, class: "chart-ci" }));
            root.appendChild(svg("line", { x1: x2, x2: x2, y1: cy - 5, y2: cy + 5, class: "chart-ci" }));
          }
        }
        root.appendChild(svg("text", { x: labelW + barW + 8, y: y + 17, class: "chart-value" }, acc === null ? "–" : DS.pct(acc)));
        y += rowH;
      });
      y += 8;
    });
    box.appendChild(root);
  }

  function renderConfusion(matrix) {
    var table = $("confusion-table");
    var thead = table.tHead;
    var tbody = table.tBodies[0];
    thead.replaceChildren();
    tbody.replaceChildren();
    if (!Array.isArray(matrix) || !matrix.length) {
      tbody.appendChild(el("tr", null, el("td", { className: "muted" }, "No data yet.")));
      return;
    }
    var head = el("tr", null, el("th", null, "true \\ pred"));
    for (var c = 0; c < matrix.length; c++) head.appendChild(el("th", null, String(c)));
    thead.appendChild(head);
    matrix.forEach(function (row, i) {
      var max = Math.max.apply(null, (row || []).concat([1]));
      var tr = el("tr", null, el("th", null, String(i)));
      (row || []).forEach(function (v, j) {
        var td = el("td", { className: i === j ? "diag" : "" }, DS.text(v));
        var alpha = typeof v === "number" && v > 0 ? 0.12 + 0.6 * (v / max) : 0;
        if (alpha) td.style.backgroundColor = (i === j ? "rgba(34,139,84," : "rgba(200,60,60,") + alpha.toFixed(2) + ")";
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  async function loadReport() {
    var res = await DS.api("/admin/report");
    if (!res.ok) return failed("report", "Loading the report", res);
    sectionError("report", "");
    var r = res.data || {};
    $("report-total").textContent = DS.text(r.total_feedback);
    $("report-correct").textContent = DS.text(r.correct);
    $("report-incorrect").textContent = DS.text(r.incorrect);
    $("report-accuracy").textContent = DS.pct(overallAccuracy(r));
    $("report-message").textContent = r.message ? String(r.message) : "";
    var perVersion = Array.isArray(r.per_version) ? r.per_version : [];
    var perArm = Array.isArray(r.per_arm) ? r.per_arm : [];
    fillRows($("per-version-table").tBodies[0], perVersion, function (x) {
      return [x.model_version, x.alias];
    });
    fillRows($("per-arm-table").tBodies[0], perArm, function (x) {
      return [x.arm, x.model_version];
    });
    var cmp = r.comparison;
    var verdict = $("verdict");
    if (cmp && typeof cmp === "object") {
      var arms = Array.isArray(cmp.arms) ? cmp.arms.join(" vs ") : "";
      var p = typeof cmp.p_value === "number" ? "p = " + cmp.p_value.toPrecision(3) : "";
      var z = typeof cmp.z === "number" ? "z = " + cmp.z.toFixed(2) : "";
      verdict.textContent = [DS.text(cmp.verdict), [arms, z, p].filter(Boolean).join(", ")].filter(Boolean).join(": ");
    } else {
      verdict.textContent = "No comparison yet (not enough feedback on two arms).";
    }
    renderChart(perVersion, perArm);
    renderConfusion(r.confusion_matrix);
    $("report-total").dataset.loaded = "1";
  }

  /* The overall accuracy: a fraction, like every other accuracy in the report. */
  function overallAccuracy(r) {
    return typeof r.accuracy === "number" && isFinite(r.accuracy) ? r.accuracy : null;
  }

  function scheduleReport() {
    clearTimeout(reportTimer);
    reportTimer = setTimeout(loadReport, 800);
  }

  /* ---------------- A/B settings ---------------- */

  function armRow(alias, weight) {
    var remove = el("button", { type: "button", className: "small", title: "Remove this arm" }, "✕");
    var tr = el("tr", { className: "ab-arm" }, [
      el("td", null, el("input", { className: "ab-alias", value: alias || "", maxLength: 32, required: true, attrs: { "aria-label": "Alias" } })),
      el("td", null, el("input", { className: "ab-weight", type: "number", min: "0", max: "1", step: "0.05", value: weight === undefined || weight === null ? "" : String(weight), attrs: { "aria-label": "Weight" } })),
      el("td", null, remove),
    ]);
    remove.addEventListener("click", function () {
      tr.remove();
    });
    return tr;
  }

  function renderAB(data) {
    data = data || {};
    var mode = $("ab-mode");
    if (data.mode && !Array.from(mode.options).some(function (o) { return o.value === data.mode; })) {
      mode.appendChild(el("option", { value: String(data.mode) }, String(data.mode)));
    }
    if (data.mode) mode.value = String(data.mode);
    $("ab-experiment").value = data.experiment ? String(data.experiment) : "";
    var tbody = $("ab-arms").tBodies[0];
    tbody.replaceChildren();
    (Array.isArray(data.arms) ? data.arms : []).forEach(function (a) {
      tbody.appendChild(armRow(a.alias, a.weight));
    });
  }

  async function loadAB() {
    var res = await DS.api("/admin/ab");
    if (!res.ok) return failed("ab", "Loading the A/B settings", res);
    sectionError("ab", "");
    renderAB(res.data);
  }

  async function saveAB(ev) {
    ev.preventDefault();
    var status = $("ab-status");
    var arms = Array.from(document.querySelectorAll("#ab-arms tbody tr")).map(function (tr) {
      var w = tr.querySelector(".ab-weight").value;
      return { alias: tr.querySelector(".ab-alias").value.trim(), weight: w === "" ? null : Number(w) };
    });
    var body = { arms: arms, mode: $("ab-mode").value };
    var exp = $("ab-experiment").value.trim();
    if (exp) body.experiment = exp;
    $("ab-save").disabled = true;
    status.textContent = "Saving…";
    status.dataset.state = "";
    var res = await DS.api("/admin/ab", { method: "PUT", json: body });
    $("ab-save").disabled = false;
    if (res.ok) {
      status.textContent = "Saved.";
      status.dataset.state = "saved";
      if (res.data && Array.isArray(res.data.arms)) renderAB(res.data);
      else loadAB();
    } else {
      status.textContent = DS.messageOf(res.error, true);
      status.dataset.state = "error";
      if (res.status === 403) failed("ab", "Saving", res);
    }
  }

  /* ---------------- retrain ---------------- */

  function setProgress(pct, label) {
    var bar = $("retrain-progress");
    var p = Math.max(0, Math.min(100, Math.round(Number(pct) || 0)));
    bar.dataset.progress = String(p);
    bar.setAttribute("aria-valuenow", String(p));
    bar.querySelector(".progress-fill").style.width = p + "%";
    bar.querySelector(".progress-text").textContent = p + "%" + (label ? " · " + label : "");
  }

  function describeFinished(job) {
    var parts = ["Job " + job.id + " " + DS.text(job.status)];
    if (job.registered_version !== undefined && job.registered_version !== null) parts.push("registered version " + job.registered_version);
    if (job.promoted !== undefined && job.promoted !== null) parts.push(job.promoted ? "promoted" : "not promoted");
    if (job.decision) parts.push(typeof job.decision === "string" ? job.decision : JSON.stringify(job.decision));
    if (job.error) parts.push(String(job.error));
    return parts.join(" · ");
  }

  function updateJob(job) {
    if (!tracked || String(job.id) !== String(tracked.id)) return;
    var status = String(job.status || "running");
    var bar = $("retrain-progress");
    bar.dataset.status = status;
    if (ACTIVE_STATUSES.indexOf(status) >= 0) {
      if (job.progress !== undefined) setProgress(job.progress, job.step ? String(job.step) : "");
      $("retrain-status").textContent = "Job " + tracked.id + " " + status + (job.step ? ": " + job.step : "") + "…";
      $("retrain-btn").disabled = true;
      return;
    }
    if (status === "succeeded" || status === "finished" || status === "completed" || status === "done") setProgress(100, "done");
    else setProgress(job.progress !== undefined ? job.progress : bar.dataset.progress, status);
    $("retrain-status").textContent = describeFinished(job);
    stopTracking();
    loadJobs();
    loadModels();
    loadReport();
  }

  function stopTracking() {
    if (tracked && tracked.timer) clearInterval(tracked.timer);
    tracked = null;
    $("retrain-btn").disabled = false;
  }

  function track(jobId) {
    if (tracked && String(tracked.id) === String(jobId)) return;
    stopTracking();
    tracked = { id: jobId, timer: null };
    $("retrain-btn").disabled = true;
    $("retrain-progress").dataset.jobId = String(jobId);
    $("retrain-status").textContent = "Job " + jobId + " queued…";
    setProgress(0, "queued");
    // Socket.IO pushes progress; polling is the fallback when the socket is down.
    tracked.timer = setInterval(poll, POLL_MS);
    poll();
  }

  async function poll() {
    if (!tracked) return;
    var id = tracked.id;
    var res = await DS.api("/admin/retrain/" + encodeURIComponent(id));
    if (!tracked || String(tracked.id) !== String(id)) return;
    if (res.ok && res.data) {
      var job = res.data;
      if (job.id === undefined) job.id = id;
      sectionError("retrain", "");
      updateJob(job);
    } else if (!res.ok) {
      failed("retrain", "Checking job " + id, res);
      if (res.status === 404 || res.status === 403 || res.status === 401) stopTracking();
    }
  }

  async function startRetrain() {
    sectionError("retrain", "");
    $("retrain-btn").disabled = true;
    var res = await DS.api("/admin/retrain", { method: "POST", json: {} });
    if (res.ok && res.data && res.data.job_id !== undefined) {
      logEvent("Retrain job " + res.data.job_id + " " + DS.text(res.data.status));
      track(res.data.job_id);
      loadJobs();
      return;
    }
    $("retrain-btn").disabled = false;
    if (res.status === 409) {
      var running = res.error && res.error.details && res.error.details.job_id;
      $("retrain-status").textContent = DS.messageOf(res.error, false) + (running ? " (job " + running + ")" : "");
      if (running !== undefined && running !== null) {
        track(running);
        $("retrain-status").textContent = "A retrain is already running: following job " + running + ".";
      }
      return;
    }
    if (res.ok) {
      sectionError("retrain", "Unexpected answer from POST /admin/retrain (no job_id).");
      return;
    }
    failed("retrain", "Starting a retrain", res);
  }

  /* ---------------- jobs and models ---------------- */

  function renderJobs() {
    var tbody = $("jobs-table").tBodies[0];
    tbody.replaceChildren();
    if (!lastJobs.length) {
      tbody.appendChild(el("tr", null, el("td", { colSpan: 7, className: "muted" }, jobsPage > 1 ? "No more jobs." : "No retrain jobs yet.")));
      return;
    }
    lastJobs.forEach(function (j) {
      var promoted = j.promoted === true ? "yes" : j.promoted === false ? "no" : "–";
      var decision = j.decision && typeof j.decision === "object" ? JSON.stringify(j.decision) : j.decision;
      tbody.appendChild(
        el("tr", { dataset: { jobId: DS.text(j.id), status: DS.text(j.status) } }, [
          cell(j.id),
          cell(el("span", { className: "badge status-" + String(j.status || "").replace(/[^a-z_]/gi, "") }, DS.text(j.status))),
          cell(fmtDate(j.created_at)),
          cell(j.registered_version),
          cell(promoted),
          el("td", { className: "wrap" }, DS.text(decision)),
          cell(runLink(j.mlflow_experiment_id, j.mlflow_run_id)),
        ])
      );
    });
  }

  async function loadJobs() {
    var res = await DS.api("/admin/retrain?page=" + jobsPage);
    if (!res.ok) return failed("jobs", "Loading the retrain jobs", res);
    sectionError("jobs", "");
    var d = res.data;
    lastJobs = Array.isArray(d) ? d : d && Array.isArray(d.items) ? d.items : d && Array.isArray(d.jobs) ? d.jobs : [];
    $("jobs-page").textContent = "page " + jobsPage;
    $("jobs-prev").disabled = jobsPage <= 1;
    renderJobs();
    if (!tracked && jobsPage === 1) {
      var active = lastJobs.filter(function (j) { return ACTIVE_STATUSES.indexOf(String(j.status)) >= 0; })[0];
      if (active) track(active.id);
    }
  }

  async function loadModels() {
    var res = await DS.api("/admin/models");
    if (!res.ok) return failed("models", "Loading the model versions", res);
    sectionError("models", "");
    var d = res.data || {};
    mlflowUi = safeBase(d.mlflow_ui);
    $("models-name").textContent = d.model_name ? "(" + d.model_name + ")" : "";
    var tbody = $("models-table").tBodies[0];
    tbody.replaceChildren();
    var versions = Array.isArray(d.versions) ? d.versions : [];
    if (!versions.length) tbody.appendChild(el("tr", null, el("td", { colSpan: 5, className: "muted" }, "No registered versions.")));
    var served = d.served && typeof d.served === "object" ? d.served : {};
    versions.forEach(function (v) {
      var names = (Array.isArray(v.aliases) ? v.aliases : []).map(String);
      var badges = names.map(function (a) {
        return el("span", { className: "badge alias" }, a);
      });
      // Aliases this process currently serves from this version (when the registry omits them).
      Object.keys(served).forEach(function (a) {
        if (String(served[a]) === String(v.version) && names.indexOf(a) < 0) {
          badges.push(el("span", { className: "badge served", title: "served by this process" }, a));
        }
      });
      var aliases = el("span", null, badges);
      var versionCell = DS.text(v.version);
      if (mlflowUi && d.model_name && v.version !== undefined) {
        versionCell = link(mlflowUi + "/#/models/" + encodeURIComponent(d.model_name) + "/versions/" + encodeURIComponent(v.version), String(v.version));
      }
      tbody.appendChild(
        el("tr", { dataset: { version: DS.text(v.version) } }, [
          cell(versionCell),
          cell(aliases),
          cell(DS.pct(v.holdout_accuracy, 2)),
          cell(fmtDate(v.created_at)),
          cell(runLink(v.experiment_id, v.run_id)),
        ])
      );
    });
    renderJobs(); // the MLflow links in the jobs table need mlflow_ui
  }

  /* ---------------- live updates (Socket.IO) ---------------- */

  function connectSocket() {
    if (socket || typeof window.io !== "function" || !DS.auth.isSignedIn()) return;
    var user = DS.auth.user;
    if (user && user.role && user.role !== "admin") return; // the events are for admins
    var retries = 0;
    // auth as a callback, so a reconnect sends the current (possibly refreshed) access token.
    // WebSocket first: with several gunicorn workers and no sticky sessions, long-polling's
    // requests land on different workers and the session breaks; one WebSocket stays on one
    // worker. Polling remains the fallback (tryAllTransports) where WebSocket is blocked.
    socket = window.io({
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      auth: function (cb) {
        cb({ token: DS.auth.access });
      },
    });
    socket.on("connect", function () {
      retries = 0;
      document.body.dataset.socket = "connected";
      logEvent("Live updates connected.");
    });
    socket.on("disconnect", function () {
      document.body.dataset.socket = "disconnected";
    });
    socket.on("connect_error", async function (err) {
      document.body.dataset.socket = "error";
      if (socket && !socket.active && retries < 3) {
        // The server refused the connection (e.g. expired token): refresh and retry a few times.
        retries += 1;
        if (/expired|token/i.test(String(err && err.message))) await DS.refreshAccess();
        setTimeout(function () {
          if (socket && DS.auth.isSignedIn()) socket.connect();
        }, 2000 * retries);
      } else if (retries >= 3) {
        logEvent("Live updates unavailable (" + (err && err.message ? err.message : "error") + "); polling instead.");
      }
    });
    socket.on("retrain_progress", function (e) {
      if (!e || e.job_id === undefined) return;
      if (!tracked) track(e.job_id);
      updateJob({ id: e.job_id, status: "running", progress: e.progress, step: e.step });
    });
    socket.on("retrain_finished", function (e) {
      if (!e || e.job_id === undefined) return;
      logEvent("Retrain job " + e.job_id + " " + DS.text(e.status) + ".");
      var job = Object.assign({}, e, { id: e.job_id });
      if (tracked && String(tracked.id) === String(e.job_id)) updateJob(job);
      else loadJobs();
    });
    socket.on("feedback_received", function (e) {
      e = e || {};
      logEvent("Feedback on prediction " + DS.text(e.prediction_id) + " (" + DS.text(e.version) + "): " + (e.correct ? "correct" : "wrong, label " + DS.text(e.label)) + ".");
      scheduleReport();
    });
    socket.on("model_promoted", function (e) {
      e = e || {};
      logEvent("Model version " + DS.text(e.version) + " promoted to alias " + DS.text(e.alias) + ".");
      loadModels();
      scheduleReport();
    });
  }

  function disconnectSocket() {
    if (socket) {
      socket.disconnect();
      socket = null;
    }
  }

  /* ---------------- wiring ---------------- */

  function loadAll() {
    DS.showError("");
    if (!isAdmin()) return Promise.resolve();
    return Promise.all([loadReport(), loadAB(), loadModels(), loadJobs()]);
  }

  var HINT = hint.textContent;

  function onAuth() {
    var on = DS.auth.isSignedIn();
    if (!on) forbidden = false; // a new sign-in gets a fresh chance
    var admin = on && isAdmin();
    content.hidden = !admin;
    hint.hidden = admin;
    if (on && !admin) {
      showNotAdmin();
    } else {
      hint.textContent = HINT;
      hint.className = "muted";
      delete hint.dataset.state;
    }
    if (!admin) {
      delete document.body.dataset.loaded;
      disconnectSocket();
      stopTracking();
    }
  }

  $("report-refresh").addEventListener("click", loadReport);
  $("ab-form").addEventListener("submit", saveAB);
  $("ab-add-arm").addEventListener("click", function () {
    $("ab-arms").tBodies[0].appendChild(armRow("", ""));
  });
  $("retrain-btn").addEventListener("click", startRetrain);
  $("jobs-prev").addEventListener("click", function () {
    if (jobsPage > 1) {
      jobsPage -= 1;
      loadJobs();
    }
  });
  $("jobs-next").addEventListener("click", function () {
    if (lastJobs.length) {
      jobsPage += 1;
      loadJobs();
    }
  });

  DS.auth.onChange(onAuth);
  DS.initAuthUI(function () {
    loadAll().then(function () {
      document.body.dataset.loaded = "1";
    });
    connectSocket();
  });
  onAuth();
  if (DS.auth.isSignedIn()) {
    loadAll().then(function () {
      document.body.dataset.loaded = "1";
    });
  }
  connectSocket();
  document.body.dataset.ready = "1";
})();
