// The sign form's error summary (GOV.UK's pattern). Without JavaScript the form's action ends in
// #sign, so the page opens at the form; with it, focus moves to the summary, so that it is read
// out and seen first, and each of its links moves focus to the field it names.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (!summary) {
    return;
  }
  // After the load: Chrome's scroll to the #sign fragment moves focus away again if done sooner.
  window.addEventListener("load", function () {
    window.setTimeout(function () {
      summary.focus();
    }, 0);
  });
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    var details = field.closest("details");
    if (details) {
      details.open = true;
    }
    var label = document.querySelector("label[for='" + field.id + "']");
    var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    (legend || label || field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
})();
