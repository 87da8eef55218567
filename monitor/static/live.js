// Live figures for the PIC dashboard: poll the page's JSON endpoint and update every element that
// carries a data-live key. Without JavaScript the page still shows the figures of its loading time.
(function () {
  var script = document.currentScript;
  var url = script.getAttribute("data-url");
  var every = parseInt(script.getAttribute("data-seconds"), 10) * 1000 || 30000;
  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) { return; }
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var v = d.figures[el.getAttribute("data-live")];
          if (v !== undefined && el.textContent !== v) { el.textContent = v; }
        });
        var at = document.getElementById("live-at");
        if (at) { at.textContent = new Date(d.at).toLocaleTimeString("id-ID"); }
      })
      .catch(function () {});
  }
  setInterval(tick, every);
})();
