/* digitserve admin page: the label review queue (issue 14). Flagged verdicts with the judged
 * image; an admin accepts (the label may train) or rejects (it never trains, counts nowhere). */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;
  var page = 1;
  var pages = 1;

  var $ = function (id) {
    return document.getElementById(id);
  };

  function sectionError(text) {
    DS.sectionError("review", text);
  }

  function cell(v) {
    return el("td", null, v instanceof Node ? v : DS.text(v));
  }

  function reasonText(reason) {
    if (reason === "confident_contradiction") return "contradicts a confident prediction";
    if (reason === "outlier_user") return "user disagrees far more than others";
    return DS.text(reason);
  }

  async function decide(id, decision, row) {
    row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    var res = await DS.api("/admin/review/" + encodeURIComponent(id), { method: "POST", json: { decision: decision } });
    if (!res.ok) {
      // 409: someone else decided first, or the user changed the verdict: show the queue as it is.
      sectionError("Deciding on feedback " + id + " failed: " + DS.messageOf(res.error, res.status === 422));
    } else {
      sectionError("");
    }
    loadReview();
  }

  function actions(item, row) {
    if (item.review !== "pending") {
      return DS.text(item.reviewed_at ? "by user " + DS.text(item.reviewed_by) : "");
    }
    var accept = el("button", { type: "button", className: "review-accept" }, "Accept");
    var reject = el("button", { type: "button", className: "review-reject" }, "Reject");
    accept.addEventListener("click", function () { decide(item.id, "accept", row); });
    reject.addEventListener("click", function () { decide(item.id, "reject", row); });
    return el("span", { className: "row" }, [accept, reject]);
  }

  function render(items) {
    var tbody = $("review-table").tBodies[0];
    tbody.replaceChildren();
    if (!items.length) {
      tbody.appendChild(el("tr", null, el("td", { colSpan: 8, className: "muted" }, "Nothing to review.")));
      return;
    }
    items.forEach(function (item) {
      var row = el("tr", { dataset: { feedbackId: DS.text(item.id), review: DS.text(item.review) } });
      var image = typeof item.image === "string" && item.image.indexOf("data:image/png;base64,") === 0
        ? el("img", { src: item.image, alt: "digit", width: 56, height: 56, className: "review-digit" })
        : "–";
      [
        cell(item.id),
        cell(image),
        cell(DS.text(item.predicted) + " (" + DS.pct(item.probability) + ")"),
        cell(item.label),
        cell(item.user_id),
        el("td", { className: "wrap" }, reasonText(item.review_reason)),
        cell(el("span", { className: "badge status-" + String(item.review || "").replace(/[^a-z_]/gi, "") }, DS.text(item.review))),
        cell(actions(item, row)),
      ].forEach(function (td) { row.appendChild(td); });
      tbody.appendChild(row);
    });
  }

  async function loadReview() {
    if (!DS.auth.isAdmin()) return;
    var status = $("review-status").value;
    var res = await DS.api("/admin/review?status=" + encodeURIComponent(status) + "&page=" + page);
    if (!res.ok) {
      if (res.status !== 403) sectionError("Loading the review queue failed: " + DS.messageOf(res.error, false));
      return;
    }
    var d = res.data || {};
    pages = Math.max(1, d.pages || 1);
    $("review-page").textContent = "page " + page + " of " + pages + " (" + DS.text(d.total) + ")";
    $("review-prev").disabled = page <= 1;
    $("review-next").disabled = page >= pages;
    render(Array.isArray(d.items) ? d.items : []);
  }

  $("review-refresh").addEventListener("click", loadReview);
  $("review-status").addEventListener("change", function () {
    page = 1;
    loadReview();
  });
  $("review-prev").addEventListener("click", function () {
    if (page > 1) {
      page -= 1;
      loadReview();
    }
  });
  $("review-next").addEventListener("click", function () {
    if (page < pages) {
      page += 1;
      loadReview();
    }
  });
  DS.auth.onChange(function () {
    page = 1;
    loadReview();
  });
  loadReview();
})();
