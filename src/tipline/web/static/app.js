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

// The staff queue's keyboard shortcuts (listed on the help overlay that "?" opens): j/k or the arrows
// move between reports, o or Enter opens one, c claims it, x selects it for a bulk action, s goes to the
// bulk status (selecting this report when none is), "/" to the search. Not while typing in a field.
document.addEventListener("DOMContentLoaded", function () {
  var dialog = document.getElementById("shortcuts");
  var opener = document.getElementById("shortcuts-open");
  if (!dialog) {
    return;
  }
  if (opener) {
    opener.addEventListener("click", function () { dialog.showModal(); });
  }
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr"));
  }
  function current() {
    // the focused row; else the row last moved to (focus can leave it: a dialog closing gives focus back
    // to what had it before, a click on the page's background takes it)
    var el = document.activeElement;
    var row = el && el.closest ? el.closest("table.queue tbody tr") : null;
    return row || document.querySelector("table.queue tbody tr.current");
  }
  function go(step) {
    var all = rows();
    if (!all.length) {
      return;
    }
    var at = all.indexOf(current());
    var next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + step));
    all.forEach(function (r) { r.classList.remove("current"); });
    all[next].classList.add("current");
    all[next].focus();
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || dialog.open) {
      return;
    }
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName))) {
      return;
    }
    var row = current();
    var key = e.key;
    if (key === "?") {
      dialog.showModal();
    } else if (key === "j" || key === "ArrowDown") {
      go(1);
    } else if (key === "k" || key === "ArrowUp") {
      go(-1);
    } else if ((key === "o" || key === "Enter") && row) {
      row.querySelector("a.open-report").click();
    } else if (key === "c" && row && row.querySelector("form.claim-form")) {
      row.querySelector("form.claim-form").submit();
    } else if (key === "x" && row) {
      var box = row.querySelector("input[type=checkbox]");
      box.checked = !box.checked;
    } else if (key === "s" && document.getElementById("b-status")) {
      if (row && !document.querySelector("table.queue input[type=checkbox]:checked")) {
        row.querySelector("input[type=checkbox]").checked = true;
      }
      document.getElementById("b-status").focus();
    } else if (key === "/" && document.getElementById("f-q")) {
      document.getElementById("f-q").focus();
    } else {
      return;
    }
    e.preventDefault();
  });
});
