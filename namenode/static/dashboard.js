// minihadoop dashboard: keeps the live parts of a page fresh without reloading it.
//
// Every element with data-refresh="<url>" is replaced by that URL's HTML fragment every
// REFRESH_MS (the server renders the same fragment into the first page, so the page works
// without this script too). An element stops refreshing once its content carries
// [data-final] (a finished job does not change). Refreshing pauses while the tab is hidden.
// <details> elements with an id keep their open/closed state across a refresh.
(function () {
  "use strict";
  var REFRESH_MS = 2000;
  var live = document.getElementById("live");
  var busy = new WeakSet();

  function setLive(ok, text) {
    if (!live) return;
    live.classList.toggle("offline", !ok);
    live.textContent = text;
  }

  function detailsState(el) {
    var state = {};
    el.querySelectorAll("details[id]").forEach(function (d) { state[d.id] = d.open; });
    return state;
  }

  function refresh(el) {
    if (busy.has(el) || el.querySelector("[data-final]")) return Promise.resolve();
    busy.add(el);
    return fetch(el.dataset.refresh, { cache: "no-store", headers: { accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var open = detailsState(el);
        el.innerHTML = html;
        Object.keys(open).forEach(function (id) {
          var d = document.getElementById(id);
          if (d) d.open = open[id];
        });
        scrollTraces(el);
        el.dataset.refreshed = String(Date.now());
        setLive(true, "live");
      })
      .catch(function () { setLive(false, "offline: retrying"); })
      .finally(function () { busy.delete(el); });
  }

  // A traceback ends with what went wrong: show its end first.
  function scrollTraces(root) {
    root.querySelectorAll("pre.trace").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
  }

  function tick() {
    if (document.hidden) return;
    document.querySelectorAll("[data-refresh]").forEach(refresh);
  }

  scrollTraces(document);
  document.addEventListener("toggle", function (event) { scrollTraces(event.target); }, true);
  setInterval(tick, REFRESH_MS);
  document.addEventListener("visibilitychange", tick);
})();
