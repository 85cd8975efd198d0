// Live panels: every element with data-live="/path" is fetched again every data-every
// seconds (same origin, the session's cookie) and its content replaced by the answer, a
// fragment the server rendered and escaped; not while the tab is hidden. Scripts off, the
// page is as it was loaded.
"use strict";
(function () {
  function follow(element) {
    var every = Math.max(1, Number(element.dataset.every || "2")) * 1000;
    function refresh() {
      if (document.hidden) { setTimeout(refresh, every); return; }
      fetch(element.dataset.live, { credentials: "same-origin", headers: { accept: "text/html" } })
        .then(function (response) {
          if (response.redirected || !response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          var focused = document.activeElement && document.activeElement.getAttribute("href");
          element.innerHTML = html;
          element.dataset.updated = String(Date.now());
          if (focused) {
            var again = element.querySelector('[href="' + CSS.escape(focused) + '"]');
            if (again) { again.focus(); }
          }
        })
        .catch(function () { element.dataset.stale = "true"; })
        .finally(function () { setTimeout(refresh, every); });
    }
    setTimeout(refresh, every);
  }
  document.querySelectorAll("[data-live]").forEach(follow);
})();
