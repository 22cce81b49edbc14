/* digitserve admin page: the retrain policy (GET/PUT /admin/retrain/policy). */
(function () {
  "use strict";

  var DS = window.DS;
  var $ = function (id) {
    return document.getElementById(id);
  };

  function sectionError(text) {
    DS.sectionError("policy", text);
  }

  function numberOrNull(id) {
    var v = $(id).value.trim();
    return v === "" ? null : Number(v);
  }

  function show(p) {
    $("policy-enabled").checked = !!p.enabled;
    $("policy-min-new-labels").value = p.min_new_labels == null ? "" : p.min_new_labels;
    $("policy-interval").value = p.interval_seconds == null ? "" : p.interval_seconds;
    $("policy-drift").checked = !!p.on_drift_alarm;
    $("policy-accuracy-drop").value = p.accuracy_drop == null ? "" : p.accuracy_drop;
    $("policy-cooldown").value = p.cooldown_seconds == null ? "" : p.cooldown_seconds;
    $("policy-base").value = (p.job && p.job.base) || "";
  }

  async function load() {
    if (!DS.auth.isAdmin()) return;
    var res = await DS.api("/admin/retrain/policy");
    if (!res.ok) {
      if (res.status !== 403) sectionError("Loading the retrain policy: " + DS.messageOf(res.error, true));
      return;
    }
    sectionError("");
    show(res.data);
  }

  async function save(ev) {
    ev.preventDefault();
    var status = $("policy-status");
    var body = {
      enabled: $("policy-enabled").checked,
      min_new_labels: numberOrNull("policy-min-new-labels"),
      interval_seconds: numberOrNull("policy-interval"),
      on_drift_alarm: $("policy-drift").checked,
      accuracy_drop: numberOrNull("policy-accuracy-drop"),
    };
    var cooldown = numberOrNull("policy-cooldown");
    if (cooldown !== null) body.cooldown_seconds = cooldown;
    var base = $("policy-base").value.trim();
    if (base) body.job = { base: base };
    $("policy-save").disabled = true;
    status.textContent = "Saving…";
    status.dataset.state = "";
    var res = await DS.api("/admin/retrain/policy", { method: "PUT", json: body });
    $("policy-save").disabled = false;
    if (res.ok) {
      status.textContent = "Saved.";
      status.dataset.state = "saved";
      show(res.data);
    } else {
      status.textContent = DS.messageOf(res.error, true);
      status.dataset.state = "error";
    }
  }

  if (!$("policy-form")) return;
  $("policy-form").addEventListener("submit", save);
  DS.auth.onChange(load);
  load();
})();
