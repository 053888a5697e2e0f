// tipline graph view: draws the elements from /api/v1/graph/elements with Cytoscape.js (vendored) and
// expands a node when it is clicked. No inline script or handler attributes: everything is wired here.
// Texts come from data-* attributes the server rendered in the page's language.
(function () {
  "use strict";

  var PRIORITY_COLOURS = { 1: "#b42318", 2: "#dc6803", 3: "#6941c6", 4: "#667085" };
  var KIND_COLOURS = {
    phone: "#2e6fd8", whatsapp: "#2e6fd8", email: "#0e9384", domain: "#0e9384", url: "#0e9384", onion: "#0e9384",
    btc: "#c4320a", eth: "#c4320a", xmr: "#c4320a", trx: "#c4320a", iban: "#c4320a", mtcn: "#c4320a",
    telegram: "#7839ee", skype: "#7839ee", snapchat: "#7839ee", kik: "#7839ee", discord: "#7839ee", account: "#7839ee",
    ipv4: "#475467", ipv6: "#475467"
  };

  function style() {
    return [
      { selector: "node", style: { "font-size": 9, "text-valign": "bottom", "text-margin-y": 3, "label": "data(label)",
        "color": "#1d2939", "text-wrap": "ellipsis", "text-max-width": 110 } },
      { selector: "node.report", style: { "shape": "round-rectangle", "width": 22, "height": 22,
        "background-color": function (n) { return PRIORITY_COLOURS[n.data("priority")] || "#667085"; } } },
      { selector: "node.entity", style: { "shape": "ellipse", "width": 16, "height": 16,
        "background-color": function (n) { return KIND_COLOURS[n.data("kind")] || "#2e6fd8"; } } },
      { selector: "node.excluded", style: { "background-color": "#ffffff", "border-width": 2, "border-style": "dashed",
        "border-color": "#888888", "color": "#667085" } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#f79009", "border-style": "solid" } },
      { selector: "node.seed", style: { "width": 30, "height": 30 } },
      { selector: "edge", style: { "width": 1.2, "line-color": "#98a2b3", "curve-style": "haystack" } },
      { selector: "edge.to-excluded", style: { "line-style": "dashed", "line-color": "#c0c4cc" } }
    ];
  }

  function text(el, name) { return el.getAttribute("data-" + name) || ""; }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, k) { return String(values[k]); });
  }

  function setup() {
    var box = document.getElementById("graph");
    if (!box || typeof window.cytoscape !== "function") { return; }
    var status = document.getElementById("graph-status");
    var detail = document.getElementById("graph-detail");
    var cy = window.cytoscape({ container: box, style: style(), elements: [], wheelSensitivity: 0.3,
      minZoom: 0.1, maxZoom: 4 });
    var truncated = false;
    var pending = 0;
    window.tiplineGraph = { cy: cy };

    function report() {
      if (!status) { return; }
      var n = cy.nodes().length, e = cy.edges().length;
      status.setAttribute("data-nodes", String(n));
      status.setAttribute("data-edges", String(e));
      status.setAttribute("data-busy", pending > 0 ? "1" : "0");
      var msg = pending > 0 ? text(status, "loading") : fill(text(status, "text"), { nodes: n, edges: e });
      if (truncated && pending === 0) { msg += " " + text(status, "truncated"); }
      status.textContent = msg;
    }

    function add(elements) {
      var fresh = [];
      elements.forEach(function (el) {
        if (cy.getElementById(el.data.id).length === 0) { fresh.push(el); }
      });
      cy.batch(function () {
        cy.add(fresh.filter(function (el) { return el.group === "nodes"; }));
        cy.add(fresh.filter(function (el) { return el.group === "edges"; }));
        cy.edges().forEach(function (e) {
          if (e.target().hasClass("excluded")) { e.addClass("to-excluded"); }
        });
      });
      return fresh.length;
    }

    function load(url, then) {
      pending += 1;
      report();
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (data) {
          truncated = truncated || !!data.truncated;
          var n = add(data.elements || []);
          if (n > 0) {
            cy.layout({ name: cy.nodes().length > 250 ? "grid" : "cose", animate: false, fit: true, padding: 20,
              nodeRepulsion: function () { return 6000; } }).run();
          }
          pending -= 1;
          report();
          if (then) { then(); }
        })
        .catch(function () {
          pending -= 1;
          if (status) { status.textContent = text(status, "failed"); status.setAttribute("data-failed-load", "1"); }
        });
    }

    function show(node) {
      if (!detail) { return; }
      var d = node.data();
      detail.textContent = "";
      var h = document.createElement("p");
      var strong = document.createElement("strong");
      strong.textContent = d.type === "report" ? d.label : d.label;
      h.appendChild(strong);
      if (d.type === "entity") { h.appendChild(document.createTextNode(" · " + d.kind)); }
      detail.appendChild(h);
      if (d.type === "entity") {
        var p = document.createElement("p");
        p.textContent = text(detail, "reports") + " " + d.reports;
        detail.appendChild(p);
        if (d.excluded) {
          var x = document.createElement("p");
          x.className = "small";
          x.textContent = text(detail, "excluded") + " " + (d.reason || "");
          detail.appendChild(x);
        }
      }
      if (!d.excluded && !node.data("expanded")) {
        var hint = document.createElement("p");
        hint.className = "small";
        hint.textContent = text(detail, "expand");
        detail.appendChild(hint);
      }
      var a = document.createElement("a");
      a.href = d.href;
      a.textContent = text(detail, "open");
      detail.appendChild(a);
    }

    cy.on("tap", "node", function (evt) {
      var node = evt.target;
      var wasSelected = node.data("shown");
      cy.nodes().forEach(function (n) { n.data("shown", false); });
      node.data("shown", true);
      show(node);
      if (wasSelected && !node.data("expanded") && !node.data("excluded")) {
        node.data("expanded", true);
        load(text(box, "expand") + "?node=" + encodeURIComponent(node.id()));
      }
    });
    cy.on("dbltap", "node", function (evt) {
      var node = evt.target;
      if (!node.data("expanded") && !node.data("excluded")) {
        node.data("expanded", true);
        load(text(box, "expand") + "?node=" + encodeURIComponent(node.id()));
      }
    });

    var expand = document.getElementById("expand-network");
    if (expand) {
      expand.addEventListener("click", function () {
        expand.disabled = true;
        load(text(expand, "src"));
      });
    }
    var fit = document.getElementById("graph-fit");
    if (fit) { fit.addEventListener("click", function () { cy.fit(undefined, 20); }); }

    load(text(box, "src"), function () {
      var params = new URLSearchParams(text(box, "src").split("?")[1] || "");
      var seed = params.get("report") ? "r" + params.get("report") : null;
      if (seed) { cy.getElementById(seed).addClass("seed"); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
