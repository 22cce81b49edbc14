/* digitserve admin page: the out-of-distribution section (answers flagged as "not a digit"),
 * read from /admin/report like the rest of the page. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;

  function $(id) {
    return document.getElementById(id);
  }

  function rate(value) {
    return typeof value === "number" ? DS.pct(value) : "—";
  }

  async function loadOod() {
    var section = $("ood");
    if (!section || !DS.auth.isAdmin()) return;
    var res = await DS.api("/admin/report");
    var error = $("ood-error");
    if (!res.ok) {
      error.textContent = "Loading the out-of-distribution counts failed: " + DS.messageOf(res.error);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    var r = res.data || {};
    $("ood-total").textContent = DS.text(r.ood_predictions) + " of " + DS.text(r.predictions) + " (" + rate(r.ood_rate) + ")";
    var tbody = $("ood-table").tBodies[0];
    tbody.textContent = "";
    (Array.isArray(r.per_version) ? r.per_version : []).forEach(function (row) {
      var cells = [row.model_version, row.alias, row.requests, row.ood_predictions, rate(row.ood_rate)];
      tbody.appendChild(el("tr", {}, cells.map(function (c) { return el("td", {}, DS.text(c)); })));
    });
    section.dataset.loaded = "1";
  }

  // Loaded at the end of the page: the section's elements exist already.
  var button = $("ood-refresh");
  if (button) button.addEventListener("click", loadOod);
  DS.auth.onChange(loadOod);
  loadOod();
})();
