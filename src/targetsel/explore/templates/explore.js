// The explorer page's script: reads the embedded JSON, draws the composition, the distances and
// the per-query picks, and keeps them in step with the budget slider, the target selector (a selection
// of several targets), the query list and the search.
// Plain DOM (textContent only: no text from the data is ever parsed as HTML); no libraries.
(function () {
  "use strict";
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("explore-data").textContent);
  var tParsed = performance.now();
  var P = D.picks;
  var N = P.id.length;
  var PAGE = 50;
  var TOP_LABELS = 12;
  var TREND_LABELS = 6;
  var COLORS = ["#2f6fdf", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#5d6d7e", "#c0392b", "#27ae60"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var byId = function (id) { return document.getElementById(id); };
  // target: -1 for every pick, else the index of the one target shown (several targets only)
  var state = { budget: N, target: -1, query: -1, search: "", page: 0 };
  var open = {};
  var hay = null;
  var cache = null;
  var hasQuery = P.query.some(function (q) { return q >= 0; });
  var extraNames = Object.keys(P.extra || {});
  var TG = D.targets || null;
  // Several targets: the query list holds their sets one after the other, and a pick's recorded
  // query is a row of its own target's set, so its place in the list is offset + row.
  var pickTarget = TG ? TG.pick : null;
  var listQuery = new Int32Array(N);
  for (var k = 0; k < N; k++) {
    listQuery[k] = P.query[k] < 0 ? -1 : P.query[k] + (TG && pickTarget[k] >= 0 ? TG.offsets[pickTarget[k]] : 0);
  }
  var queryTarget = new Int32Array(D.n_queries).fill(-1);
  if (TG) TG.offsets.forEach(function (o, t) { queryTarget.fill(t, o, o + TG.queries[t]); });
  function mine(i) { return state.target < 0 || pickTarget[i] === state.target; }
  function queryName(q) {
    return TG && queryTarget[q] >= 0 ? TG.names[queryTarget[q]] + " #" + (q - TG.offsets[queryTarget[q]]) : "#" + q;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  // Rank of each pick among the picks of its own query (1 = that query's first choice).
  var queryRank = new Int32Array(N);
  (function () {
    var seen = {};
    for (var i = 0; i < N; i++) {
      var q = listQuery[i];
      seen[q] = (seen[q] || 0) + 1;
      queryRank[i] = seen[q];
    }
  })();

  function firstText(messages) {
    if (!messages) return null;
    var first = messages.find(function (m) { return m[0] === "user"; }) || messages[0] || ["", ""];
    return String(first[1]).replace(/\s+/g, " ").trim();
  }
  function clip(text, length) { return text.length > length ? text.slice(0, length - 1) + "…" : text; }
  function snippet(messages, length) { return clip(firstText(messages), length); }
  // Query sets often share an instruction ("Complete the following Python function: ..."); the
  // query list shows what follows it, so that the entries can be told apart.
  function sharedPrefix(texts) {
    if (texts.length < 2) return 0;
    var prefix = texts[0];
    for (var i = 1; i < texts.length && prefix; i++) {
      var j = 0;
      while (j < prefix.length && j < texts[i].length && prefix[j] === texts[i][j]) j++;
      prefix = prefix.slice(0, j);
    }
    var cut = prefix.lastIndexOf(" ");
    return prefix.length >= 16 && cut > 0 ? cut + 1 : 0;
  }
  function conversation(messages) {
    var box = el("div", "conversation");
    messages.forEach(function (m) {
      var msg = el("div", "msg " + m[0]);
      msg.appendChild(el("span", "role", m[0]));
      msg.appendChild(document.createTextNode(m[1]));
      box.appendChild(msg);
    });
    return box;
  }

  // ------------------------------------------------------------------ budget slider
  function initBudget() {
    var range = byId("budget");
    range.max = N;
    range.value = N;
    var pending = false;
    range.addEventListener("input", function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; setBudget(+range.value); });
    });
    var marks = byId("budget-marks");
    (D.header.budgets || []).forEach(function (b) {
      if (b > N) return;
      var button = el("button", "", b.toLocaleString());
      button.type = "button";
      button.dataset.budget = b;
      button.addEventListener("click", function () { range.value = b; setBudget(b); });
      marks.appendChild(button);
    });
  }
  function setBudget(b) {
    state.budget = Math.max(1, Math.min(N, b));
    state.page = 0;
    update();
  }
  function renderBudget() {
    byId("budget-value").textContent = state.budget.toLocaleString() + " of " + N.toLocaleString();
    Array.prototype.forEach.call(byId("budget-marks").children, function (b) {
      b.classList.toggle("on", +b.dataset.budget === state.budget);
    });
  }

  // ------------------------------------------------------------------ composition
  // Picks per label among the first `upto` picks of the target shown; `total` is how many they are.
  function countLabels(upto) {
    var counts = new Array(D.labels.length).fill(0);
    counts.total = 0;
    for (var i = 0; i < upto; i++) if (mine(i)) { counts[P.label[i]]++; counts.total++; }
    return counts;
  }
  var poolTotal = D.pool_counts ? D.pool_counts.reduce(function (a, b) { return a + b; }, 0) : 0;

  function renderComposition() {
    var box = clear(byId("composition-bars"));
    if (D.by === null) {
      byId("composition").classList.add("none");
      box.appendChild(el("p", "empty", "No composition: the subset has no such column (use --by COLUMN)."));
      return;
    }
    var counts = countLabels(state.budget);
    var total = counts.total;
    byId("composition-by").textContent = "by " + D.by + (D.pool_counts ? ": subset vs pool" : ": subset") +
      (state.target >= 0 ? " · the " + total.toLocaleString() + " picks of target " + TG.names[state.target] : "");
    if (!total) {
      box.appendChild(el("p", "empty", "No pick of target " + TG.names[state.target] + " within this budget."));
      return;
    }
    var order = D.labels.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      return counts[b] - counts[a] || (D.pool_counts ? D.pool_counts[b] - D.pool_counts[a] : 0) || a - b;
    });
    var shown = order.slice(0, TOP_LABELS);
    var rest = order.slice(TOP_LABELS);
    var rows = shown.map(function (i) {
      return { name: D.labels[i], sub: counts[i], pool: D.pool_counts ? D.pool_counts[i] : null };
    });
    if (rest.length) {
      var other = { name: "other (" + rest.length + " labels)", sub: 0, pool: D.pool_counts ? 0 : null };
      rest.forEach(function (i) { other.sub += counts[i]; if (D.pool_counts) other.pool += D.pool_counts[i]; });
      rows.push(other);
    }
    var max = 0;
    rows.forEach(function (r) {
      max = Math.max(max, r.sub / total, r.pool === null ? 0 : r.pool / poolTotal);
    });
    rows.forEach(function (r) {
      var label = el("div", "label", r.name);
      label.title = r.name;
      var track = el("div", "track");
      var bar = el("div", "bar subset");
      bar.style.width = (100 * r.sub / total / max).toFixed(2) + "%";
      bar.title = r.sub + " of " + total + " picks";
      track.appendChild(bar);
      var text = r.sub + " · " + pct(r.sub / total);
      if (r.pool !== null) {
        var pbar = el("div", "bar pool");
        pbar.style.width = (100 * r.pool / poolTotal / max).toFixed(2) + "%";
        pbar.title = r.pool + " of " + poolTotal + " pool rows";
        track.appendChild(pbar);
        text += "  (pool " + pct(r.pool / poolTotal) + ")";
      }
      box.appendChild(label);
      box.appendChild(track);
      box.appendChild(el("div", "num", text));
    });
  }

  var trend = null;
  function initTrend() {
    if (D.by === null || N < 2) byId("composition-trend").previousElementSibling.remove();
    drawTrend();
  }
  // The share of each label among the target's picks (every pick's, with no target chosen) by budget.
  function drawTrend() {
    var host = clear(byId("composition-trend"));
    trend = null;
    if (D.by === null || N < 2) return;
    var W = 900, H = 170, L = 44, R = 170, T = 8, B = 26;
    var points = [];
    var steps = Math.min(N, 80);
    for (var s = 1; s <= steps; s++) points.push(Math.max(1, Math.round(N * s / steps)));
    (D.header.budgets || []).forEach(function (b) { if (b <= N) points.push(b); });
    points = Array.from(new Set(points)).sort(function (a, b) { return a - b; });
    var series = [];
    var sizes = [];
    var counts = new Array(D.labels.length).fill(0);
    var size = 0;
    var j = 0;
    for (var i = 0; i < N && j < points.length; i++) {
      if (mine(i)) { counts[P.label[i]]++; size++; }
      while (j < points.length && points[j] === i + 1) { series.push(counts.slice()); sizes.push(size); j++; }
    }
    if (!size) return;
    var share = function (c, k, p) { return c[k] / sizes[p]; };
    var final = series[series.length - 1];
    var top = D.labels.map(function (_, k) { return k; })
      .filter(function (k) { return final[k] > 0; })
      .sort(function (a, b) { return final[b] - final[a] || a - b; }).slice(0, TREND_LABELS);
    var ymax = 0;
    top.forEach(function (k) {
      series.forEach(function (c, p) { if (sizes[p]) ymax = Math.max(ymax, share(c, k, p)); });
      if (D.pool_counts) ymax = Math.max(ymax, D.pool_counts[k] / poolTotal);
    });
    ymax = Math.min(1, Math.ceil(ymax * 10) / 10 || 1);
    var x = function (b) { return L + (W - L - R) * (b - 1) / Math.max(1, N - 1); };
    var y = function (v) { return T + (H - T - B) * (1 - v / ymax); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": "share of each label by budget" });
    [0, 0.5, 1].forEach(function (f) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(f * ymax), y2: y(f * ymax), stroke: "#e3e6eb" }));
      var t = svg("text", { x: L - 6, y: y(f * ymax) + 4, "text-anchor": "end" });
      t.textContent = Math.round(100 * f * ymax) + "%";
      root.appendChild(t);
    });
    [1, N].forEach(function (b, idx) {
      var t = svg("text", { x: x(b), y: H - 8, "text-anchor": idx ? "end" : "start" });
      t.textContent = b.toLocaleString();
      root.appendChild(t);
    });
    var xl = svg("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" });
    xl.textContent = "budget (picks)";
    root.appendChild(xl);
    top.forEach(function (k, n) {
      var color = COLORS[n % COLORS.length];
      var d = [];
      series.forEach(function (c, p) {
        if (sizes[p]) d.push((d.length ? "L" : "M") + x(points[p]).toFixed(1) + " " + y(share(c, k, p)).toFixed(1));
      });
      root.appendChild(svg("path", { d: d.join(""), fill: "none", stroke: color, "stroke-width": 2 }));
      if (D.pool_counts) {
        var py = y(D.pool_counts[k] / poolTotal);
        root.appendChild(svg("line", { x1: L, x2: W - R, y1: py, y2: py, stroke: color, "stroke-dasharray": "3 4", "stroke-width": 1 }));
      }
      var t = svg("text", { x: W - R + 8, y: T + 12 + 15 * n, fill: color });
      t.style.fill = color;
      var name = D.labels[k];
      t.textContent = name.length > 22 ? name.slice(0, 21) + "…" : name;
      root.appendChild(t);
    });
    if (D.pool_counts) {
      var note = svg("text", { x: W - R + 8, y: T + 16 + 15 * top.length });
      note.textContent = "dashed: pool share";
      root.appendChild(note);
    }
    var marker = svg("line", { y1: T, y2: H - B, stroke: "#1d2330", "stroke-width": 1 });
    root.appendChild(marker);
    host.appendChild(root);
    trend = { marker: marker, x: x };
  }
  function renderTrend() {
    if (!trend) return;
    var px = trend.x(state.budget).toFixed(1);
    trend.marker.setAttribute("x1", px);
    trend.marker.setAttribute("x2", px);
  }

  // ------------------------------------------------------------------ diagnosis
  function missing(v) { return v === null || v === undefined; }
  // A distance-by-budget chart: `lines` ({get, color, dash, label}) over `pts`, with an optional grey
  // band ({lo, hi, mid}); budgets on a log axis when they span a factor of ten.
  function curveChart(pts, lines, band) {
    var W = 900, H = 190, L = 52, R = 20, T = 10, B = 30;
    var lo = Infinity, hi = -Infinity;
    var see = function (v) { if (!missing(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } };
    pts.forEach(function (p) {
      lines.forEach(function (l) { see(l.get(p)); });
      if (band && !missing(band.mid(p))) { see(band.lo(p)); see(band.hi(p)); }
    });
    if (lo === Infinity) return el("p", "empty", "No distance measured.");
    var pad = (hi - lo) * 0.1 || 0.01;
    lo = Math.max(0, lo - pad); hi = hi + pad;
    var bmin = pts[0].budget, bmax = pts[pts.length - 1].budget;
    var logx = bmax / bmin >= 10;
    var fx = function (b) {
      if (bmax === bmin) return (L + W - R) / 2;
      var f = logx ? Math.log(b / bmin) / Math.log(bmax / bmin) : (b - bmin) / (bmax - bmin);
      return L + (W - L - R) * f;
    };
    var fy = function (v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
    var xy = function (p, v) { return fx(p.budget).toFixed(1) + "," + fy(v).toFixed(1); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": "distance by budget" });
    [lo, (lo + hi) / 2, hi].forEach(function (v) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: fy(v), y2: fy(v), stroke: "#e3e6eb" }));
      var t = svg("text", { x: L - 6, y: fy(v) + 4, "text-anchor": "end" });
      t.textContent = v.toFixed(3);
      root.appendChild(t);
    });
    var banded = band ? pts.filter(function (p) { return !missing(band.mid(p)); }) : [];
    if (banded.length) {
      var upper = banded.map(function (p) { return xy(p, band.hi(p)); });
      var lower = banded.slice().reverse().map(function (p) { return xy(p, band.lo(p)); });
      root.appendChild(svg("polygon", { points: upper.concat(lower).join(" "), fill: "#d5d9e0", opacity: 0.8 }));
      root.appendChild(svg("polyline", {
        points: banded.map(function (p) { return xy(p, band.mid(p)); }).join(" "),
        fill: "none", stroke: "#8a93a3", "stroke-dasharray": "4 3",
      }));
    }
    lines.forEach(function (l) {
      var have = pts.filter(function (p) { return !missing(l.get(p)); });
      var attrs = { points: have.map(function (p) { return xy(p, l.get(p)); }).join(" "), fill: "none", stroke: l.color, "stroke-width": 2 };
      if (l.dash) attrs["stroke-dasharray"] = l.dash;
      root.appendChild(svg("polyline", attrs));
      have.forEach(function (p) {
        var c = svg("circle", { cx: fx(p.budget), cy: fy(l.get(p)), r: 3.5, fill: l.color });
        var title = svg("title");
        title.textContent = "budget " + p.budget + ": " + l.label + " " + fmt(l.get(p), 4);
        c.appendChild(title);
        root.appendChild(c);
      });
    });
    pts.forEach(function (p) {
      var t = svg("text", { x: fx(p.budget), y: H - 10, "text-anchor": "middle" });
      t.textContent = p.budget.toLocaleString();
      root.appendChild(t);
    });
    return root;
  }
  function diagTable(heads, rows) {
    var table = el("table", "diag-table");
    var head = el("tr");
    heads.forEach(function (h) { head.appendChild(el("th", "", h)); });
    table.appendChild(head);
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (v) { tr.appendChild(el("td", "", v)); });
      table.appendChild(tr);
    });
    return table;
  }
  function renderDiagnosis() {
    var box = clear(byId("diagnosis-body"));
    var G = D.diagnosis;
    if (!G || !G.points.length) {
      box.appendChild(el("p", "empty", "No diagnosis in this selection folder. Run `targetsel explore DIR --diagnose`, " +
        "or `targetsel diagnose --selection DIR -o DIR/diagnosis` and then explore again."));
      return;
    }
    var pts = G.points.slice().sort(function (a, b) { return a.budget - b.budget; });
    if (state.target >= 0) { renderTargetDiagnosis(box, G, pts, TG.names[state.target]); return; }
    box.appendChild(el("p", "sub", "1-Wasserstein distance between the subset and the queries in " +
      (G.representation || "?") + " features (cost (1 − cos)/2; lower is closer)" +
      (G.random ? "; grey: " + G.random.subsets + " random subsets of the same size (mean ± std)" : "") + "."));
    var band = {
      mid: function (p) { return p.random_mean; },
      lo: function (p) { return p.random_mean - (p.random_std || 0); },
      hi: function (p) { return p.random_mean + (p.random_std || 0); },
    };
    box.appendChild(curveChart(pts, [{ get: function (p) { return p.w1; }, color: "#2f6fdf", label: "W1" }], band));
    box.appendChild(diagTable(["budget", "W1", "random W1", "percentile", "z", "MMD", "NN q→s", "queries covered"],
      pts.map(function (p) {
        return [p.budget.toLocaleString(), fmt(p.w1, 4),
          missing(p.random_mean) ? "–" : fmt(p.random_mean, 4) + " ± " + fmt(p.random_std, 4),
          missing(p.random_percentile) ? "–" : fmt(p.random_percentile, 0) + "%",
          fmt(p.random_z, 1), fmt(p.mmd, 4), fmt(p.mean_nn_query, 4),
          missing(p.covered_fraction) ? "–" : pct(p.covered_fraction)];
      })));
  }
  // One target's distances: of its own picks and of the whole prefix, to its queries only.
  function renderTargetDiagnosis(box, G, pts, name) {
    var of = function (p) { return p.targets && p.targets[name]; };
    pts = pts.filter(of);
    if (!pts.length) {
      box.appendChild(el("p", "empty", "This diagnosis has no distances per target; run `targetsel diagnose` again."));
      return;
    }
    box.appendChild(el("p", "sub", "1-Wasserstein distance to the queries of target " + name + " in " +
      (G.representation || "?") + " features (lower is closer): blue, its own picks; grey, the whole prefix " +
      "(the picks of every target)."));
    box.appendChild(curveChart(pts, [
      { get: function (p) { return of(p).w1; }, color: "#2f6fdf", label: name + " W1" },
      { get: function (p) { return of(p).w1_all; }, color: "#8a93a3", dash: "4 3", label: "W1 of the whole prefix" },
    ], null));
    box.appendChild(diagTable(["budget", name + " picks", "W1", "W1 all", "MMD", "MMD all", "NN q→s", "NN q→s all"],
      pts.map(function (p) {
        var d = of(p);
        return [p.budget.toLocaleString(), missing(d.picks) ? "–" : d.picks.toLocaleString(), fmt(d.w1, 4),
          fmt(d.w1_all, 4), fmt(d.mmd, 4), fmt(d.mmd_all, 4), fmt(d.mean_nn_query, 4), fmt(d.mean_nn_query_all, 4)];
      })));
  }

  // ------------------------------------------------------------------ queries
  var queryItems = [];
  function initQueries() {
    var list = byId("queries");
    var all = el("li", "query-all");
    all.appendChild(el("span", "qtext", "All picks, in ranking order"));
    all.appendChild(el("span", "qn"));
    all.addEventListener("click", function () { selectQuery(-1); });
    list.appendChild(all);
    queryItems.push(all);
    var texts = D.queries ? D.queries.map(firstText) : [];
    // the instruction a query set shares is cut per set (several targets: per target)
    var skips = (TG ? TG.offsets : [0]).map(function (o, t) {
      var own = texts.slice(o, TG ? o + TG.queries[t] : undefined).filter(function (x) { return x !== null; });
      return sharedPrefix(own);
    });
    for (var q = 0; q < D.n_queries; q++) {
      var li = el("li", "query");
      li.dataset.query = q;
      if (TG && queryTarget[q] >= 0) li.dataset.target = TG.names[queryTarget[q]];
      li.appendChild(el("span", "qn", queryName(q)));
      var known = q < texts.length && texts[q] !== null;
      var skip = skips[Math.max(0, queryTarget[q])];
      var text = known ? (skip ? "…" : "") + clip(texts[q].slice(skip), 140) : "query " + queryName(q);
      li.appendChild(el("span", "qtext", text));
      li.title = known ? clip(texts[q], 600) : text;
      li.appendChild(el("span", "qn count"));
      li.addEventListener("click", (function (qq) { return function () { selectQuery(qq); }; })(q));
      list.appendChild(li);
      queryItems.push(li);
    }
  }
  function selectQuery(q) {
    state.query = q;
    state.page = 0;
    renderQueries();
    renderPicks();
  }
  function renderQueries() {
    var counts = new Array(D.n_queries).fill(0);
    var shown = 0;
    for (var i = 0; i < state.budget; i++) {
      if (!mine(i)) continue;
      shown++;
      if (listQuery[i] >= 0) counts[listQuery[i]]++;
    }
    queryItems.forEach(function (li, n) {
      var q = n - 1;
      li.classList.toggle("on", q === state.query);
      li.hidden = q >= 0 && state.target >= 0 && queryTarget[q] !== state.target;
      var count = li.lastChild;
      count.textContent = q < 0 ? shown.toLocaleString() : hasQuery ? counts[q].toLocaleString() : "";
    });
    var detail = clear(byId("query-detail"));
    if (state.query < 0) {
      var whose = state.target >= 0 ? "All picks of target " + TG.names[state.target] : "All picks";
      detail.appendChild(el("h3", "", hasQuery ? whose + ", in ranking order (click a query for its own picks)"
        : whose + ", in ranking order (" + D.header.method + " records no query per pick)"));
      return;
    }
    detail.appendChild(el("h3", "", "Query " + queryName(state.query) +
      (hasQuery ? ": " + counts[state.query] + " picks within the budget" : "")));
    if (D.queries && D.queries[state.query]) detail.appendChild(conversation(D.queries[state.query]));
  }

  // ------------------------------------------------------------------ picks
  function buildHaystack() {
    hay = new Array(N);
    for (var i = 0; i < N; i++) {
      var parts = [P.id[i], D.by === null ? "" : D.labels[P.label[i]]];
      var msgs = D.conversations[i];
      for (var m = 0; m < msgs.length; m++) parts.push(msgs[m][1]);
      hay[i] = parts.join("\n").toLowerCase();
    }
  }
  function filtered() {
    var key = state.budget + "|" + state.target + "|" + state.query + "|" + state.search;
    if (cache && cache.key === key) return cache.rows;
    if (state.search && !hay) buildHaystack();
    var rows = [];
    for (var i = 0; i < state.budget; i++) {
      if (!mine(i)) continue;
      if (state.query >= 0 && listQuery[i] !== state.query) continue;
      if (state.search && hay[i].indexOf(state.search) < 0) continue;
      rows.push(i);
    }
    cache = { key: key, rows: rows };
    return rows;
  }
  function initPicks() {
    var head = el("tr");
    var cols = [["rank", "4.5em"], ["#q", "3em"], ["id", "9em"], [D.by || "label", "11em"], ["query", "4em"], ["score", "5.5em"]];
    extraNames.forEach(function (n) { cols.push([n, "6em"]); });
    cols.push(["conversation", "auto"]);
    var tips = {
      rank: "position in the ranking", "#q": "place among the picks of its query",
      query: "the query that chose it", score: "its similarity score (to that query when one chose it)",
    };
    cols.forEach(function (c) {
      var th = el("th", "", c[0]);
      th.style.width = c[1];
      if (tips[c[0]]) th.title = tips[c[0]];
      head.appendChild(th);
    });
    byId("picks").tHead.appendChild(head);
    var timer = null;
    byId("search").addEventListener("input", function (ev) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        state.search = ev.target.value.trim().toLowerCase();
        state.page = 0;
        renderPicks();
      }, 120);
    });
    byId("prev").addEventListener("click", function () { if (state.page > 0) { state.page--; renderPicks(); } });
    byId("next").addEventListener("click", function () { state.page++; renderPicks(); });
  }
  function pickRow(i, ncols) {
    var tr = el("tr", "pick");
    tr.dataset.index = i;
    var cells = [i + 1, P.query[i] >= 0 ? queryRank[i] : "–", P.id[i], D.by === null ? "–" : D.labels[P.label[i]],
      P.query[i] >= 0 ? "#" + P.query[i] : "–", fmt(P.score[i], 4)];
    extraNames.forEach(function (n) {
      var v = P.extra[n][i];
      cells.push(typeof v === "number" ? (Number.isInteger(v) ? v : v.toPrecision(4)) : v === null ? "–" : String(v));
    });
    cells.push(snippet(D.conversations[i], 200));
    cells.forEach(function (v, c) {
      var td = el("td", c === 0 || c === 1 || c === 4 || c === 5 ? "num" : "", v);
      if (c === cells.length - 1 || c === 2 || c === 3) td.title = String(v);
      tr.appendChild(td);
    });
    var detail = el("tr", "detail");
    var td = el("td");
    td.colSpan = ncols;
    detail.appendChild(td);
    var toggle = function () {
      if (open[i]) { delete open[i]; } else { open[i] = true; }
      show();
    };
    var show = function () {
      tr.classList.toggle("open", !!open[i]);
      detail.hidden = !open[i];
      if (open[i] && !td.firstChild) td.appendChild(conversation(D.conversations[i]));
    };
    tr.addEventListener("click", toggle);
    show();
    return [tr, detail];
  }
  function renderPicks() {
    var rows = filtered();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var body = clear(byId("picks").tBodies[0]);
    var start = state.page * PAGE;
    var ncols = 7 + extraNames.length;
    var frag = document.createDocumentFragment();
    rows.slice(start, start + PAGE).forEach(function (i) {
      pickRow(i, ncols).forEach(function (r) { frag.appendChild(r); });
    });
    if (!rows.length) {
      var tr = el("tr");
      var td = el("td", "empty", state.search ? "No pick matches “" + state.search + "”." : "No picks.");
      td.colSpan = ncols;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    body.appendChild(frag);
    byId("pick-count").textContent = rows.length.toLocaleString() + " pick" + (rows.length === 1 ? "" : "s") +
      (state.search ? " match" : "") + (rows.length ? " · showing " + (start + 1).toLocaleString() + "–" +
      Math.min(rows.length, start + PAGE).toLocaleString() : "");
    byId("page-info").textContent = "page " + (state.page + 1) + " of " + pages.toLocaleString();
    byId("prev").disabled = state.page === 0;
    byId("next").disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------ targets (several only)
  // The selector: "all targets" or one; every view then shows that target's picks, queries and distances.
  function initTargets() {
    if (!TG) return;
    var box = byId("target-buttons");
    [-1].concat(TG.names.map(function (_, t) { return t; })).forEach(function (t) {
      var button = el("button", "");
      button.type = "button";
      button.dataset.target = t < 0 ? "" : TG.names[t];
      button.appendChild(el("span", "name", t < 0 ? "all targets" : TG.names[t]));
      button.appendChild(el("span", "count"));
      button.addEventListener("click", function () { setTarget(t); });
      box.appendChild(button);
    });
  }
  function setTarget(t) {
    state.target = t;
    state.query = -1;
    state.page = 0;
    drawTrend();
    renderDiagnosis();
    update();
  }
  function renderTargets() {
    if (!TG) return;
    var counts = TG.names.map(function () { return 0; });
    for (var i = 0; i < state.budget; i++) if (pickTarget[i] >= 0) counts[pickTarget[i]]++;
    Array.prototype.forEach.call(byId("target-buttons").children, function (button, n) {
      var t = n - 1;
      button.classList.toggle("on", t === state.target);
      button.lastChild.textContent = " " + (t < 0 ? state.budget : counts[t]).toLocaleString();
    });
    var bars = clear(byId("target-shares"));
    TG.names.forEach(function (name, t) {
      var label = el("div", "label", name);
      var track = el("div", "track");
      var bar = el("div", "bar subset");
      bar.style.width = (100 * counts[t] / state.budget).toFixed(2) + "%";
      track.appendChild(bar);
      var text = counts[t].toLocaleString() + " of " + state.budget.toLocaleString() + " picks · " + pct(counts[t] / state.budget);
      if (typeof TG.shares[t] === "number") {
        var sbar = el("div", "bar pool");
        sbar.style.width = (100 * TG.shares[t]).toFixed(2) + "%";
        track.appendChild(sbar);
        text += "  (share " + pct(TG.shares[t]) + ")";
      }
      [label, track, el("div", "num", text)].forEach(function (e) {
        e.classList.toggle("on", t === state.target);
        bars.appendChild(e);
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("#target-composition [data-target]"), function (cell) {
      cell.classList.toggle("on", +cell.dataset.target === state.target);
    });
    byId("diagnosis-target").textContent = state.target >= 0 ? "of target " + TG.names[state.target] : "";
  }

  function update() {
    renderBudget();
    renderTargets();
    renderComposition();
    renderTrend();
    renderQueries();
    renderPicks();
  }

  initBudget();
  initTargets();
  initTrend();
  initQueries();
  initPicks();
  renderDiagnosis();
  update();
  var tReady = performance.now();
  window.exploreTiming = {
    rows: N,
    parse_ms: tParsed - t0,
    render_ms: tReady - tParsed,
    script_ms: tReady - t0,
    ready_since_navigation_ms: tReady,
  };
  byId("timing").textContent = "drawn in " + Math.round(tReady - t0) + " ms";
  document.documentElement.dataset.ready = "1";
})();
