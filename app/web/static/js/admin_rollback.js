/* digitserve admin page: alias history and rollback (issue 14 item 4). Uses the admin-only APIs
 * GET /admin/aliases/history, GET /admin/models and POST /admin/models/<alias>/rollback. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var page = 1;
  var pages = 1;

  var $ = function (id) {
    return document.getElementById(id);
  };

  if (!$("rollback")) return;

  function isAdmin() {
    return DS.auth.isAdmin();
  }

  function showError(text) {
    DS.sectionError("rollback", text);
  }

  function fmtDate(v) {
    if (!v) return "–";
    var d = new Date(String(v));
    return isNaN(d.getTime()) ? String(v) : d.toLocaleString();
  }

  function cell(v) {
    return el("td", null, DS.text(v));
  }

  async function loadAliases() {
    var res = await DS.api("/admin/models");
    if (!res.ok) return showError("Loading the aliases failed: " + DS.messageOf(res.error, false));
    var select = $("rollback-alias");
    var chosen = select.value;
    var names = [];
    ((res.data && res.data.versions) || []).forEach(function (v) {
      (Array.isArray(v.aliases) ? v.aliases : []).forEach(function (a) {
        names.push(String(a) + " → version " + DS.text(v.version) + "|" + String(a));
      });
    });
    names.sort();
    select.replaceChildren();
    names.forEach(function (entry) {
      var parts = entry.split("|");
      select.appendChild(el("option", { value: parts[1], selected: parts[1] === chosen }, parts[0]));
    });
    $("rollback-btn").disabled = !names.length;
  }

  async function loadHistory() {
    var filter = $("rollback-filter").value.trim();
    var q = "/admin/aliases/history?page=" + page + (filter ? "&alias=" + encodeURIComponent(filter) : "");
    var res = await DS.api(q);
    if (!res.ok) return showError("Loading the alias history failed: " + DS.messageOf(res.error, res.status === 422));
    showError("");
    var d = res.data || {};
    pages = Math.max(1, d.pages || 1);
    $("rollback-page").textContent = "page " + page + " of " + pages;
    var tbody = $("rollback-table").tBodies[0];
    tbody.replaceChildren();
    var items = Array.isArray(d.items) ? d.items : [];
    if (!items.length) tbody.appendChild(el("tr", null, el("td", { colSpan: 6, className: "muted" }, "No alias moves recorded.")));
    items.forEach(function (m) {
      tbody.appendChild(
        el("tr", { dataset: { moveId: DS.text(m.id), source: DS.text(m.source) } }, [
          cell(fmtDate(m.created_at)),
          cell(m.alias),
          cell((m.from_version === null || m.from_version === undefined ? "(new)" : m.from_version) + " → " + DS.text(m.to_version)),
          el("td", null, el("span", { className: "badge" }, DS.text(m.source))),
          cell(m.actor || "system"),
          el("td", { className: "wrap" }, DS.text(m.reason)),
        ])
      );
    });
  }

  function loadAll() {
    if (!isAdmin()) return;
    loadAliases();
    loadHistory();
  }

  async function rollback() {
    var alias = $("rollback-alias").value;
    if (!alias || !window.confirm("Roll alias " + alias + " back to the version it pointed at before?")) return;
    var status = $("rollback-status");
    status.textContent = "Rolling back " + alias + "…";
    var res = await DS.api("/admin/models/" + encodeURIComponent(alias) + "/rollback", { method: "POST", json: {} });
    if (!res.ok) {
      status.textContent = DS.messageOf(res.error, false);
      return;
    }
    var r = res.data || {};
    status.textContent =
      "Alias " + DS.text(r.alias) + " moved back from version " + DS.text(r.from_version) + " to " + DS.text(r.to_version) +
      (r.champion ? " (champion followed)" : "") + ". Serving follows within the reload interval.";
    page = 1;
    loadAll();
  }

  $("rollback-btn").addEventListener("click", rollback);
  $("rollback-refresh").addEventListener("click", loadAll);
  $("rollback-filter").addEventListener("change", function () {
    page = 1;
    loadHistory();
  });
  $("rollback-prev").addEventListener("click", function () {
    if (page > 1) {
      page -= 1;
      loadHistory();
    }
  });
  $("rollback-next").addEventListener("click", function () {
    if (page < pages) {
      page += 1;
      loadHistory();
    }
  });
  DS.auth.onChange(loadAll);
  loadAll();
})();
