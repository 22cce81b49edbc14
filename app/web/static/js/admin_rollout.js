/* digitserve admin page: rollout progress (shadow -> canary -> full -> promoted / rolled back).
 * Everything comes from the admin-only /admin/rollouts API with the signed-in admin's token. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var STAGES = ["shadow", "canary", "full", "promoted"];
  var ACTIVE = ["shadow", "canary", "full"];
  var POLL_MS = 5000;
  var timer = null;

  var $ = function (id) {
    return document.getElementById(id);
  };

  function sectionError(text) {
    DS.sectionError("rollout", text);
  }

  function num(x, digits) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(digits) : "–";
  }

  /* The stages as a row of steps: done, current, or ahead; a rollback or cancel ends it in red. */
  function progress(r) {
    var at = STAGES.indexOf(r.stage);
    var last = r.history && r.history.length > 1 ? r.history[r.history.length - 2].stage : "shadow";
    var reached = at >= 0 ? at : STAGES.indexOf(last);
    var steps = STAGES.map(function (s, i) {
      var state = i < reached ? "done" : i === reached ? "current" : "ahead";
      return el("span", { className: "badge step-" + state, dataset: { step: s } }, s);
    });
    if (at < 0) steps.push(el("span", { className: "badge error", dataset: { step: r.stage } }, r.stage.replace("_", " ")));
    return el("span", null, steps);
  }

  function evidenceText(ev) {
    ev = ev || {};
    return [
      "agreement " + DS.pct(ev.agreement_rate, 1) + " of " + DS.text(ev.shadowed),
      "labelled " + DS.text(ev.labelled) + " (candidate alone right " + DS.text(ev.only_candidate) +
        ", baseline alone right " + DS.text(ev.only_baseline) + ")",
      "E+ " + num(ev.e_better, 2) + " / E- " + num(ev.e_worse, 2) + " (bar " + num(ev.e_threshold, 0) + ")"
    ].join("; ");
  }

  function row(r) {
    var actions = el("td");
    if (ACTIVE.indexOf(r.stage) >= 0) {
      var btn = el("button", { type: "button", className: "secondary" }, "Cancel");
      btn.addEventListener("click", function () {
        cancel(r.id, btn);
      });
      actions.appendChild(btn);
    }
    return el("tr", { dataset: { rollout: String(r.id), stage: r.stage } }, [
      el("td", null, String(r.id)),
      el("td", null, DS.text(r.alias)),
      el("td", null, DS.text(r.baseline_version) + " → " + DS.text(r.candidate_version)),
      el("td", null, progress(r)),
      el("td", { className: "evidence" }, evidenceText(r.evidence)),
      el("td", { className: "muted" }, DS.text(r.reason)),
      actions
    ]);
  }

  async function load() {
    if (!DS.auth.isAdmin() || !$("rollout-table")) return;
    var res = await DS.api("/admin/rollouts?page_size=20");
    if (!res.ok) {
      if (res.status !== 403) sectionError("Loading the rollouts failed: " + DS.messageOf(res.error, false));
      return;
    }
    sectionError("");
    var items = res.data && Array.isArray(res.data.items) ? res.data.items : [];
    var tbody = $("rollout-table").tBodies[0];
    tbody.replaceChildren();
    if (!items.length) tbody.appendChild(el("tr", null, el("td", { colSpan: 7, className: "muted" }, "No rollouts yet.")));
    items.forEach(function (r) {
      tbody.appendChild(row(r));
    });
    schedule(items.some(function (r) { return ACTIVE.indexOf(r.stage) >= 0; }));
  }

  /* Poll only while some rollout is running. */
  function schedule(active) {
    if (timer) clearTimeout(timer);
    timer = active ? setTimeout(load, POLL_MS) : null;
  }

  async function start(ev) {
    ev.preventDefault();
    var status = $("rollout-status");
    var body = { alias: $("rollout-alias").value.trim(), version: $("rollout-version").value.trim() };
    var share = $("rollout-share").value.trim();
    if (share) body.canary_share = Number(share);
    $("rollout-start").disabled = true;
    var res = await DS.api("/admin/rollouts", { method: "POST", json: body });
    $("rollout-start").disabled = false;
    if (res.ok) {
      status.textContent = "Rollout " + res.data.id + " started (shadowing).";
      sectionError("");
    } else {
      status.textContent = "";
      sectionError("Starting the rollout failed: " + DS.messageOf(res.error, res.status === 422));
    }
    load();
  }

  async function cancel(id, btn) {
    btn.disabled = true;
    var res = await DS.api("/admin/rollouts/" + encodeURIComponent(id) + "/cancel", { method: "POST" });
    if (!res.ok) sectionError("Cancelling rollout " + id + " failed: " + DS.messageOf(res.error, false));
    load();
  }

  if (!$("rollout-form")) return;
  $("rollout-form").addEventListener("submit", start);
  $("rollout-refresh").addEventListener("click", load);
  DS.auth.onChange(function () {
    if (DS.auth.isAdmin()) load();
    else schedule(false);
  });
  load();
})();
