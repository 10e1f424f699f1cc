// Live pages without a reload: poll the ledger head; when it moves, fetch this page again and
// swap its main element and the integrity badge in place. No inline script (the CSP forbids it).
(function () {
  "use strict";
  var head = document.body.getAttribute("data-head");
  async function poll() {
    try {
      var r = await fetch("/api/head", { cache: "no-store", credentials: "same-origin" });
      if (r.ok) {
        var h = await r.json();
        var now = h.seq + ":" + h.hash;
        if (now !== head) {
          var page = await fetch(location.href, { cache: "no-store", credentials: "same-origin" });
          var doc = new DOMParser().parseFromString(await page.text(), "text/html");
          document.getElementById("main").replaceWith(doc.getElementById("main"));
          document.getElementById("integrity").replaceWith(doc.getElementById("integrity"));
          document.body.setAttribute("data-head", now);
          head = now;
        }
      }
    } catch (e) { /* the server is restarting: try again next tick */ }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
})();
