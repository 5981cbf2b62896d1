// The broadcasts page: the count of recipients and the preview follow the form as it is
// typed (POST /console/broadcasts/count, with the CSRF token in its header), and the list's
// progress refreshes every few seconds (GET /console/broadcasts/progress). Without this
// script the form's "count" button and the list's "refresh" link do the same.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  var form = document.getElementById("compose");
  var count = document.getElementById("count");
  var preview = document.getElementById("preview");
  var WAIT_MS = 400;
  var timer = null;
  var asked = 0;

  function recount() {
    var mine = ++asked;
    var body = new URLSearchParams(new FormData(form));
    body.delete("csrf_token");
    fetch(form.getAttribute("data-count"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Accept": "application/json" },
      body: body
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data || mine !== asked) { return; }  // an older answer after a newer question
        count.innerHTML = data.count_html;
        preview.innerHTML = data.preview_html;
      })
      .catch(function () { /* the count button still works */ });
  }

  function soon() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(recount, WAIT_MS);
  }

  if (form && count && preview) {
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
  }

  var table = document.getElementById("broadcasts");
  var rows = document.getElementById("broadcast-rows");
  var EVERY_MS = 3000;
  var last = null;
  function refresh() {
    fetch(table.getAttribute("data-poll"), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && typeof data.html === "string" && data.html !== last) {
          rows.innerHTML = data.html;
          last = data.html;
        }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { setTimeout(refresh, EVERY_MS); });
  }
  if (table && rows) { setTimeout(refresh, EVERY_MS); }
}());
