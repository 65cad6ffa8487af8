// Keyboard shortcuts of the review workspace (admin item page). Every shortcut
// clicks a visible link or button, so the server decides exactly as for a click.
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function toggleHelp() {
    var help = byId("shortcut-help");
    if (help) {
      help.hidden = !help.hidden;
    }
  }

  // The button a reason is being typed for; Ctrl+Enter submits with it.
  var pending = null;

  function askReason(buttonId) {
    var reason = byId("id_reason");
    var button = byId(buttonId);
    if (!reason || !button) {
      return;
    }
    if (reason.value.trim()) {
      button.click();
      return;
    }
    pending = button;
    reason.placeholder = "Reason for: " + button.textContent.trim() + " (Ctrl+Enter to send)";
    reason.focus();
  }

  function clickIf(id) {
    var element = byId(id);
    if (element) {
      element.click();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.target && event.target.id === "id_reason") {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && pending) {
        event.preventDefault();
        pending.click();
      } else if (event.key === "Escape") {
        event.target.blur();
      }
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var actions = {
      j: function () { clickIf("next-item"); },
      k: function () { clickIf("prev-item"); },
      c: function () { clickIf("claim-button"); },
      a: function () { clickIf("approve-button"); },
      r: function () { askReason("reject-button"); },
      e: function () { askReason("escalate-button"); },
      "?": toggleHelp
    };
    var action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var link = byId("help-toggle");
    if (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        toggleHelp();
      });
    }
  });
})();
