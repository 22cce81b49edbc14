/* digitserve: the drawing page. Draw on the canvas, POST it as a PNG, show the answer, send feedback. */
(function () {
  "use strict";

  var DS = window.DS;
  var el = DS.el;

  var canvas = document.getElementById("canvas");
  var ctx = canvas.getContext("2d");
  var clearBtn = document.getElementById("clear-btn");
  var predictBtn = document.getElementById("predict-btn");
  var endpointSelect = document.getElementById("endpoint-select");
  var resultDigit = document.getElementById("result-digit");
  var resultProb = document.getElementById("result-probability");
  var resultVersion = document.getElementById("result-version");
  var resultArm = document.getElementById("result-arm");
  var probBars = document.getElementById("prob-bars");
  var feedbackBox = document.getElementById("feedback");
  var feedbackRight = document.getElementById("feedback-right");
  var feedbackWrong = document.getElementById("feedback-wrong");
  var labelPicker = document.getElementById("label-picker");
  var feedbackStatus = document.getElementById("feedback-status");

  var BRUSH = 20;
  var drawing = false;
  var last = null;
  var inked = false;
  var current = null; // the last prediction response

  /* ---- canvas: black ink on white, thick round brush, mouse / pen / touch via pointer events ---- */

  function clearCanvas() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    inked = false;
  }

  function point(ev) {
    var r = canvas.getBoundingClientRect();
    return {
      x: ((ev.clientX - r.left) * canvas.width) / r.width,
      y: ((ev.clientY - r.top) * canvas.height) / r.height,
    };
  }

  function stroke(from, to) {
    ctx.strokeStyle = "#000000";
    ctx.fillStyle = "#000000";
    ctx.lineWidth = BRUSH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (from.x === to.x && from.y === to.y) {
      ctx.beginPath();
      ctx.arc(to.x, to.y, BRUSH / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
    inked = true;
  }

  canvas.addEventListener("pointerdown", function (ev) {
    if (ev.button !== undefined && ev.button > 0) return;
    ev.preventDefault();
    drawing = true;
    try {
      canvas.setPointerCapture(ev.pointerId);
    } catch (e) {
      /* synthetic events have no capturable pointer */
    }
    last = point(ev);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drawing) return;
    ev.preventDefault();
    var events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    if (!events.length) events = [ev];
    events.forEach(function (e) {
      var p = point(e);
      stroke(last, p);
      last = p;
    });
  });
  function stop() {
    drawing = false;
    last = null;
  }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener("lostpointercapture", stop);

  clearBtn.addEventListener("click", function () {
    clearCanvas();
    resetResult();
    DS.showError("");
  });

  /* ---- result display ---- */

  function resetResult() {
    current = null;
    resultDigit.textContent = "?";
    resultDigit.classList.add("placeholder");
    resultProb.textContent = "–";
    resultVersion.textContent = "–";
    resultArm.textContent = "–";
    renderBars(null, null);
    feedbackBox.hidden = true;
    labelPicker.hidden = true;
    feedbackStatus.textContent = "";
    document.getElementById("result").dataset.predictionId = "";
  }

  function renderBars(probs, best) {
    probBars.replaceChildren();
    for (var d = 0; d < 10; d++) {
      var p = probs && typeof probs[d] === "number" ? Math.max(0, Math.min(1, probs[d])) : 0;
      var fill = el("div", { className: "bar-fill" });
      fill.style.width = (p * 100).toFixed(1) + "%";
      var row = el("div", { className: "bar-row" + (d === best ? " best" : ""), dataset: { digit: String(d), probability: String(p) } }, [
        el("span", { className: "bar-label" }, String(d)),
        el("div", { className: "bar-track" }, fill),
        el("span", { className: "bar-value" }, probs ? DS.pct(p) : ""),
      ]);
      probBars.appendChild(row);
    }
  }

  function showResult(data) {
    current = data;
    var digit = typeof data.prediction === "number" ? data.prediction : data.prediccion;
    var prob = typeof data.probability === "number" ? data.probability : data.probabilidad;
    resultDigit.textContent = DS.text(digit);
    resultDigit.classList.remove("placeholder");
    resultProb.textContent = DS.pct(prob);
    var version = DS.text(data.version);
    if (data.model_version !== undefined && data.model_version !== null) version += " · model " + data.model_version;
    resultVersion.textContent = version;
    resultArm.textContent = data.ab_version
      ? data.ab_version + (data.experiment ? " (" + data.experiment + ")" : "")
      : "– (not an A/B request)";
    renderBars(Array.isArray(data.probabilities) ? data.probabilities : null, digit);
    document.getElementById("result").dataset.predictionId = DS.text(data.prediction_id);
    feedbackStatus.textContent = "";
    feedbackStatus.dataset.state = "";
    labelPicker.hidden = true;
    feedbackBox.hidden = data.prediction_id === undefined || data.prediction_id === null;
    setFeedbackEnabled(true);
  }

  function toBlob() {
    return new Promise(function (resolve) {
      canvas.toBlob(resolve, "image/png");
    });
  }

  var SIGN_IN = "Sign in to predict: use the form at the top of the page, or register a new account there.";

  predictBtn.addEventListener("click", async function () {
    DS.showError("");
    if (!DS.auth.isSignedIn()) {
      // Predictions need an account: say so in words, before sending anything.
      DS.showError(SIGN_IN);
      return;
    }
    predictBtn.disabled = true;
    predictBtn.textContent = "Predicting…";
    try {
      var blob = await toBlob();
      if (!blob) {
        DS.showError("Could not export the drawing.");
        return;
      }
      var form = new FormData();
      form.append("file", blob, "digit.png");
      var res = await DS.api(endpointSelect.value, { method: "POST", body: form });
      if (!res.ok) {
        resetResult();
        var msg = DS.messageOf(res.error, false);
        // A 401 here means the session ended (expired, revoked or signed out elsewhere): the
        // server's wording is for developers.
        if (res.status === 401) {
          DS.auth.clear();
          msg = "Your session has ended. " + SIGN_IN;
        }
        DS.showError(msg);
        return;
      }
      showResult(res.data || {});
    } finally {
      predictBtn.disabled = false;
      predictBtn.textContent = "Predict";
    }
  });

  /* ---- feedback ---- */

  function setFeedbackEnabled(on) {
    var predicted = current ? String(current.prediction) : "";
    feedbackRight.disabled = !on;
    feedbackWrong.disabled = !on;
    labelPicker.querySelectorAll("button").forEach(function (b) {
      // "Wrong" with the predicted digit as the label makes no sense: that one stays disabled.
      b.disabled = !on || b.dataset.label === predicted;
      b.classList.toggle("predicted", b.dataset.label === predicted);
    });
  }

  async function sendFeedback(body) {
    if (!current) return;
    DS.showError("");
    setFeedbackEnabled(false);
    feedbackStatus.textContent = "Sending…";
    var res = await DS.api("/feedback", { method: "POST", json: body });
    if (res.ok) {
      feedbackStatus.textContent = body.correct
        ? "Thanks, recorded as correct."
        : "Thanks, recorded: it was a " + body.label + ".";
      labelPicker.hidden = true;
      feedbackStatus.dataset.state = "sent";
    } else {
      feedbackStatus.textContent = "";
      feedbackStatus.dataset.state = "error";
      setFeedbackEnabled(true);
      DS.showError(DS.messageOf(res.error, false));
    }
  }

  feedbackRight.addEventListener("click", function () {
    if (current) sendFeedback({ prediction_id: current.prediction_id, correct: true });
  });
  feedbackWrong.addEventListener("click", function () {
    labelPicker.hidden = !labelPicker.hidden;
  });
  labelPicker.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-label]");
    if (!btn || !current) return;
    sendFeedback({ prediction_id: current.prediction_id, correct: false, label: Number(btn.dataset.label) });
  });

  DS.initAuthUI(null);
  clearCanvas();
  resetResult();
  document.body.dataset.ready = "1";
})();
