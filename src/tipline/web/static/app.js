// tipline: the only script besides vendor/htmx.min.js. Loaded from <head> (no inline script anywhere, so a
// Content-Security-Policy without 'unsafe-inline' holds). Every page works without it.
//
// It marks the page as scripted, so that the report form shows only the questions of the chosen
// incident type (htmx swaps them in); without JavaScript all questions stay visible.
document.documentElement.classList.add("js");

// After a refused form, take keyboard and screen-reader users to the list of problems.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
