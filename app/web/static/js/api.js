/* digitserve: shared helpers for the web pages (auth, API calls, error display).
 *
 * Tokens live in sessionStorage only (per tab, gone when the tab closes): never in a URL,
 * never in local storage. All text from the server or the user is written with textContent.
 */
(function () {
  "use strict";

  var KEY = "digitserve.auth";

  function load() {
    try {
      var raw = window.sessionStorage.getItem(KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  var state = load() || { access: null, refresh: null, user: null };
  var listeners = [];

  function save() {
    try {
      if (state.access || state.refresh) {
        window.sessionStorage.setItem(KEY, JSON.stringify(state));
      } else {
        window.sessionStorage.removeItem(KEY);
      }
    } catch (e) {
      /* storage disabled: keep the tokens in memory only */
    }
    listeners.forEach(function (fn) {
      fn(state);
    });
  }

  var auth = {
    get access() {
      return state.access;
    },
    get refresh() {
      return state.refresh;
    },
    get user() {
      return state.user;
    },
    isSignedIn: function () {
      return Boolean(state.access);
    },
    // Signed in with the admin role (as the sign-in answered it; the server checks it again): the
    // admin page's sections ask their admin-only APIs only then, so a plain user sees no 403s.
    isAdmin: function () {
      var user = state.user;
      return Boolean(state.access) && (!user || !user.role || user.role === "admin");
    },
    set: function (tokens) {
      if (tokens.access_token) state.access = tokens.access_token;
      if (tokens.refresh_token) state.refresh = tokens.refresh_token;
      if (tokens.user) state.user = tokens.user;
      save();
    },
    clear: function () {
      state = { access: null, refresh: null, user: null };
      save();
    },
    onChange: function (fn) {
      listeners.push(fn);
    },
  };

  async function parse(resp) {
    var text = await resp.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      return { _text: text };
    }
  }

  function errorOf(status, data) {
    var err = data && data.error && typeof data.error === "object" ? data.error : null;
    if (err) {
      return {
        code: String(err.code || ""),
        status: err.status || status,
        message: String(err.message || "Request failed (" + status + ")."),
        details: err.details || null,
      };
    }
    var msg = "Request failed (HTTP " + status + ").";
    if (status === 0) msg = "The server could not be reached.";
    return { code: "http_" + status, status: status, message: msg, details: null };
  }

  var refreshing = null;

  /* POST /auth/refresh with the refresh token as bearer; one request at a time. */
  function refreshAccess() {
    if (!state.refresh) return Promise.resolve(false);
    if (!refreshing) {
      refreshing = (async function () {
        try {
          var resp = await fetch("/auth/refresh", {
            method: "POST",
            headers: { Authorization: "Bearer " + state.refresh, Accept: "application/json" },
            credentials: "same-origin",
            cache: "no-store",
          });
          var data = await parse(resp);
          if (resp.ok && data && data.access_token) {
            // Refresh tokens rotate: keep the new one (the old one is spent; reusing it ends the session).
            auth.set({ access_token: data.access_token, refresh_token: data.refresh_token });
            return true;
          }
          auth.clear();
          return false;
        } catch (e) {
          return false;
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  /* Call a JSON API. Returns {ok, status, data, error}; never throws.
   * opts: {method, json, body (FormData), auth (default true)}. A 401 token_expired triggers one
   * refresh and one retry. */
  async function api(path, opts) {
    opts = opts || {};
    var attempt = async function () {
      var headers = { Accept: "application/json" };
      var body = opts.body;
      if (opts.json !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(opts.json);
      }
      if (opts.auth !== false && state.access) headers.Authorization = "Bearer " + state.access;
      return fetch(path, {
        method: opts.method || "GET",
        headers: headers,
        body: body,
        credentials: "same-origin",
        cache: "no-store",
      });
    };
    var resp;
    var data;
    try {
      resp = await attempt();
      data = await parse(resp);
      if (resp.status === 401 && opts.auth !== false && state.refresh) {
        var code = data && data.error && data.error.code;
        if (code === "token_expired" && (await refreshAccess())) {
          resp = await attempt();
          data = await parse(resp);
        }
      }
    } catch (e) {
      return { ok: false, status: 0, data: null, error: errorOf(0, null) };
    }
    if (resp.ok) return { ok: true, status: resp.status, data: data, error: null };
    return { ok: false, status: resp.status, data: data, error: errorOf(resp.status, data) };
  }

  /* "field: message; other: message" from a details object (422 validation errors). */
  function detailsText(details) {
    if (!details || typeof details !== "object") return "";
    var parts = [];
    var walk = function (prefix, value) {
      if (Array.isArray(value)) {
        if (value.every(function (v) { return typeof v !== "object" || v === null; })) {
          parts.push((prefix ? prefix + ": " : "") + value.join(" "));
        } else {
          value.forEach(function (v, i) { walk(prefix + "[" + i + "]", v); });
        }
      } else if (value && typeof value === "object") {
        Object.keys(value).forEach(function (k) { walk(prefix ? prefix + "." + k : k, value[k]); });
      } else {
        parts.push((prefix ? prefix + ": " : "") + String(value));
      }
    };
    walk("", details);
    return parts.join("; ");
  }

  function messageOf(error, withDetails) {
    if (!error) return "";
    var msg = error.message;
    if (withDetails) {
      var extra = detailsText(error.details);
      if (extra) msg += " (" + extra + ")";
    }
    return msg;
  }

  var errorEl = null;
  function showError(text) {
    errorEl = errorEl || document.getElementById("error");
    if (!errorEl) return;
    errorEl.textContent = text || "";
    errorEl.hidden = !text;
  }

  /* Small DOM builder: el("td", {className: "x", dataset: {a: 1}}, "text" | Node | [..]) */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === "dataset") {
          Object.keys(props.dataset).forEach(function (d) { node.dataset[d] = props.dataset[d]; });
        } else if (k === "attrs") {
          Object.keys(props.attrs).forEach(function (a) { node.setAttribute(a, props.attrs[a]); });
        } else {
          node[k] = props[k];
        }
      });
    }
    [].concat(children === undefined || children === null ? [] : children).forEach(function (c) {
      node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  /* SVG counterpart of el: svg("rect", {x: 1, class: "c"}, "optional text"). */
  var SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      n.setAttribute(k, String(attrs[k]));
    });
    if (text !== undefined) n.textContent = text;
    return n;
  }

  /* The admin page's per-section error line (<p class="section-error" data-section="name">). */
  function sectionError(name, text) {
    var node = document.querySelector('.section-error[data-section="' + name + '"]');
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  function pct(x, digits) {
    if (typeof x !== "number" || !isFinite(x)) return "–";
    return (x * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  function text(v) {
    return v === null || v === undefined || v === "" ? "–" : String(v);
  }

  /* Sign-in / register / sign-out controls shared by both pages. */
  function initAuthUI(onSignedIn) {
    var form = document.getElementById("auth-form");
    var signedIn = document.getElementById("signed-in");
    var who = document.getElementById("whoami");
    var role = document.getElementById("whoami-role");
    var username = document.getElementById("username");
    var password = document.getElementById("password");
    var email = document.getElementById("email");
    var loginBtn = document.getElementById("login-btn");
    var registerBtn = document.getElementById("register-btn");
    var logoutBtn = document.getElementById("logout-btn");

    function render() {
      var on = auth.isSignedIn();
      form.hidden = on;
      signedIn.hidden = !on;
      who.textContent = on && auth.user ? auth.user.username : "";
      role.textContent = on && auth.user ? auth.user.role : "";
      document.body.dataset.signedIn = on ? "1" : "0";
    }

    async function login() {
      showError("");
      var name = username.value.trim();
      if (!name || !password.value) {
        showError("Enter a username and a password.");
        return false;
      }
      loginBtn.disabled = true;
      var res = await api("/login", { method: "POST", json: { username: name, password: password.value }, auth: false });
      loginBtn.disabled = false;
      if (!res.ok) {
        showError(messageOf(res.error, false));
        return false;
      }
      password.value = "";
      auth.set(res.data);
      return true;
    }

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      if (await login() && onSignedIn) onSignedIn();
    });

    if (registerBtn) {
      registerBtn.addEventListener("click", async function () {
        showError("");
        var name = username.value.trim();
        if (!name || !password.value) {
          showError("Choose a username and a password, then press Register.");
          return;
        }
        var body = { username: name, password: password.value };
        if (email && email.value.trim()) body.email = email.value.trim();
        registerBtn.disabled = true;
        var res = await api("/auth/register", { method: "POST", json: body, auth: false });
        registerBtn.disabled = false;
        if (!res.ok) {
          showError(messageOf(res.error, true));
          return;
        }
        if (await login() && onSignedIn) onSignedIn();
      });
    }

    logoutBtn.addEventListener("click", async function () {
      showError("");
      if (state.access) {
        // Best effort: the tokens are forgotten locally whatever the server says.
        await api("/auth/logout", { method: "POST", json: state.refresh ? { refresh_token: state.refresh } : {} });
      }
      auth.clear();
    });

    auth.onChange(render);
    render();
    document.getElementById("auth-fields").disabled = false;
  }

  window.DS = {
    auth: auth,
    api: api,
    refreshAccess: refreshAccess,
    showError: showError,
    messageOf: messageOf,
    detailsText: detailsText,
    el: el,
    svg: svg,
    sectionError: sectionError,
    pct: pct,
    text: text,
    initAuthUI: initAuthUI,
  };
})();
