/* tipline statistics dashboard: draws the charts of /stats from /api/v1/stats with Chart.js.
   The page already shows every number in tables; this only adds the pictures. No inline script:
   the data URL and the translated axis names come from data- attributes, the labels from the JSON. */
(function () {
  "use strict";

  function draw(root, data) {
    var css = getComputedStyle(document.body);
    Chart.defaults.font.family = css.fontFamily;
    Chart.defaults.color = "#1b1f24";
    Chart.defaults.animation = false;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var c = data.charts[canvas.getAttribute("data-chart")];
      if (!c || !c.series.length) {
        return;
      }
      var legend = c.series.length > 1 || c.kind !== "time";
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: c.x_labels,
          datasets: c.series.map(function (s) {
            return { label: s.label, data: s.values, backgroundColor: s.color, borderWidth: 0, maxBarThickness: 56 };
          })
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { display: legend, position: "bottom", labels: { boxWidth: 14, boxHeight: 14 } },
            tooltip: {
              filter: function (item) { return item.raw !== 0; }
            }
          },
          scales: {
            x: {
              stacked: true,
              grid: { display: false },
              title: { display: true, text: canvas.getAttribute("data-x-label") || "" },
              // every agency and bucket is named; only long runs of periods are thinned out
              ticks: { autoSkip: c.kind === "time", maxRotation: 45 }
            },
            y: {
              stacked: true,
              beginAtZero: true,
              ticks: { precision: 0 },
              title: { display: true, text: c.y_label }
            }
          }
        }
      });
    });
  }

  function start() {
    var root = document.getElementById("stats");
    if (!root || typeof Chart === "undefined") {
      return;
    }
    fetch(root.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (data) {
        root.classList.add("charts-ready");
        draw(root, data);
        root.setAttribute("data-drawn", "true");
      })
      .catch(function () {
        root.classList.add("charts-failed");
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
