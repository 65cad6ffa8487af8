/* Loopgate feedback widget: plain JavaScript, no build step.
 *
 * <div data-loopgate-feedback data-token="TOKEN_FROM_RESOLVE"
 *      data-endpoint="https://loopgate.example.com/api/v1/feedback/widget/"></div>
 * <script src="https://loopgate.example.com/feedback/widget.js" defer></script>
 *
 * The token (from registry resolve) is bound to one response and expires; no API
 * key ever reaches the browser. Each action keeps its event id until the server
 * accepted it, so a retry after a network error is a replay, not a duplicate.
 */
(function () {
  "use strict";

  var DEFAULT_ENDPOINT = "/api/v1/feedback/widget/";
  var TOKEN_HEADER = "X-Loopgate-Feedback-Token";

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16),
            hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text) { node.textContent = text; }
    return node;
  }

  function firstError(body) {
    if (!body || typeof body !== "object") { return "Could not send feedback."; }
    var keys = Object.keys(body).filter(function (k) { return k !== "code"; });
    for (var i = 0; i < keys.length; i++) {
      var value = body[keys[i]];
      if (Array.isArray(value) && value.length) { return keys[i] + ": " + value[0]; }
      if (typeof value === "string") { return value; }
    }
    return "Could not send feedback.";
  }

  function mount(root) {
    if (root.getAttribute("data-loopgate-mounted")) { return; }
    root.setAttribute("data-loopgate-mounted", "1");
    var token = root.getAttribute("data-token") || "";
    var endpoint = root.getAttribute("data-endpoint") || DEFAULT_ENDPOINT;
    var pending = {};  // action -> event id, kept until the server accepts it

    var status = el("p", {"class": "lg-status", "role": "status", "aria-live": "polite"});
    var up = el("button", {"type": "button", "class": "lg-up", "aria-label": "Helpful"}, "\uD83D\uDC4D Yes");
    var down = el("button", {"type": "button", "class": "lg-down", "aria-label": "Not helpful"}, "\uD83D\uDC4E No");
    var comment = el("textarea", {"class": "lg-comment", "rows": "2", "placeholder": "What was wrong or right?", "aria-label": "Comment"});
    var sendComment = el("button", {"type": "button", "class": "lg-send-comment"}, "Send comment");
    var correction = el("textarea", {"class": "lg-correction", "rows": "3", "placeholder": "Corrected SQL", "aria-label": "Corrected SQL", "spellcheck": "false"});
    var sendCorrection = el("button", {"type": "button", "class": "lg-send-correction"}, "Send correction");

    function send(action, body, button) {
      pending[action] = pending[action] || uuid4();
      body.event_id = pending[action];
      body.occurred_at = new Date().toISOString();
      button.disabled = true;
      status.textContent = "Sending\u2026";
      var headers = {"Content-Type": "application/json"};
      headers[TOKEN_HEADER] = token;
      return fetch(endpoint, {method: "POST", headers: headers, body: JSON.stringify(body)})
        .then(function (response) {
          return response.json().catch(function () { return null; }).then(function (data) {
            if (response.ok) {
              delete pending[action];
              status.textContent = "Thanks \u2014 feedback sent.";
              status.setAttribute("data-state", "sent");
              root.dispatchEvent(new CustomEvent("loopgate:sent", {detail: data}));
            } else {
              if (response.status < 500 && response.status !== 429) { delete pending[action]; }
              status.textContent = firstError(data);
              status.setAttribute("data-state", "error");
            }
          });
        })
        .catch(function () {
          status.textContent = "Network error; try again.";
          status.setAttribute("data-state", "error");
        })
        .then(function () { button.disabled = false; });
    }

    up.addEventListener("click", function () { send("thumbs_up", {type: "thumbs_up"}, up); });
    down.addEventListener("click", function () { send("thumbs_down", {type: "thumbs_down"}, down); });
    sendComment.addEventListener("click", function () {
      if (!comment.value.trim()) { status.textContent = "Write a comment first."; return; }
      send("comment", {type: "comment", comment: comment.value}, sendComment);
    });
    sendCorrection.addEventListener("click", function () {
      if (!correction.value.trim()) { status.textContent = "Write the corrected SQL first."; return; }
      send("correction", {type: "correction", corrected_sql: correction.value}, sendCorrection);
    });

    var box = el("div", {"class": "lg-feedback"});
    [el("span", {}, "Was this answer right? "), up, down, el("br"), comment, sendComment,
     el("br"), correction, sendCorrection, status].forEach(function (n) { box.appendChild(n); });
    root.appendChild(box);
  }

  function mountAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-loopgate-feedback]"), mount);
  }

  window.LoopgateFeedback = {mount: mount, mountAll: mountAll};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
