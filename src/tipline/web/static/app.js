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

// The receipt page: copy the number, print the page (buttons shown only with JavaScript).
document.addEventListener("DOMContentLoaded", function () {
  var copy = document.querySelector("[data-copy]");
  if (copy) {
    copy.addEventListener("click", function () {
      var target = document.getElementById(copy.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      var text = target ? target.textContent.trim() : "";
      if (navigator.clipboard && text) {
        navigator.clipboard.writeText(text).then(function () {
          if (status) { status.textContent = copy.getAttribute("data-copied"); }
        });
      }
    });
  }
  var print = document.querySelector("[data-print]");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
  }
});

// Back to the report form: the browser restores the chosen type but not the questions htmx had swapped in;
// ask for them again, so the form is as the reporter left it.
window.addEventListener("pageshow", function () {
  var chosen = document.querySelector("#f-category input[type=radio]:checked");
  var questions = document.getElementById("questions");
  if (chosen && questions && window.htmx && !questions.querySelector(".qgroup.current")) {
    window.htmx.trigger(chosen, "change");
  }
});

// Quick exit: leave for a harmless site and replace this page in the history, so Back does not return here.
// Escape pressed twice does the same. Without JavaScript the button is an ordinary link.
document.addEventListener("DOMContentLoaded", function () {
  var exit = document.getElementById("quick-exit");
  if (!exit) {
    return;
  }
  function leave(event) {
    if (event) { event.preventDefault(); }
    document.body.style.display = "none";
    window.location.replace(exit.href);
  }
  exit.addEventListener("click", leave);
  var last = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var now = Date.now();
      if (now - last < 800) { leave(event); }
      last = now;
    }
  });
});

// Times on the public pages come in UTC; show them in the reporter's own time zone (the browser's).
document.addEventListener("DOMContentLoaded", function () {
  var lang = document.documentElement.lang || "en";
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime()) || !window.Intl) { return; }
    el.textContent = when.toLocaleString(lang, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  });
});
