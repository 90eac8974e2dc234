// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Demo: drop an image on the upload box to check it at once.
  document.querySelectorAll("form[data-dropzone]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (ev) { ev.preventDefault(); form.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      form.addEventListener(name, function () { form.classList.remove("dragging"); });
    });
    form.addEventListener("drop", function (ev) {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        form.requestSubmit();
      }
    });
  });
  // Questionnaire: record how long the answer took (researchers use it), and send each answer only once.
  document.querySelectorAll("form[data-timed]").forEach(function (form) {
    var shown = performance.now();
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent) { ev.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelector("input[name=response_ms]").value = String(Math.round(performance.now() - shown));
    });
  });
  // Move keyboard and screen-reader focus to a fresh result.
  var result = document.getElementById("result");
  if (result) { result.focus(); }
})();
