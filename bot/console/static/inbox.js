// The inbox asks for its rows every few seconds and swaps them in, so new work shows
// without a reload. It pauses while a form in the table has focus (someone is choosing).
(function () {
  "use strict";
  var table = document.getElementById("inbox");
  var body = document.getElementById("inbox-rows");
  if (!table || !body) { return; }
  var url = table.getAttribute("data-poll");
  var EVERY_MS = 3000;
  var last = null;
  function busy() {
    var active = document.activeElement;
    return active && body.contains(active) && active.tagName === "SELECT";
  }
  function refresh() {
    if (busy()) { setTimeout(refresh, EVERY_MS); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && typeof data.html === "string" && data.html !== last) {
          body.innerHTML = data.html;
          last = data.html;
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { setTimeout(refresh, EVERY_MS); });
  }
  setTimeout(refresh, EVERY_MS);
}());
