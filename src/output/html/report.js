// The connections table: rows from the JSON the page holds; sort by a column, filter by
// text and close kind. Everything stays in the page: nothing is fetched.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("rows").textContent);
  var body = document.querySelector("#conns tbody");
  var filter = document.getElementById("filter");
  var close = document.getElementById("close");
  var shown = document.getElementById("shown");
  var sortCol = -1, sortDir = 1;
  function cell(v, num) {
    var td = document.createElement("td");
    if (num) td.className = "num";
    td.textContent = v === null ? "–" : (typeof v === "number" ? v.toLocaleString("en-US") : v);
    return td;
  }
  var numeric = [true, false, false, false, true, true, true, true, true, true, false];
  function render() {
    var text = filter.value.trim().toLowerCase(), kind = close.value;
    var rows = data.filter(function (r) {
      if (kind && r[3] !== kind) return false;
      return !text || r.join(" ").toLowerCase().indexOf(text) >= 0;
    });
    if (sortCol >= 0) {
      rows.sort(function (a, b) {
        var x = a[sortCol], y = b[sortCol];
        if (x === y) return a[0] - b[0];
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * sortDir;
      });
    }
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      r.forEach(function (v, i) { tr.appendChild(cell(v, numeric[i])); });
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    shown.textContent = rows.length + " of " + data.length + " rows shown";
    shown.setAttribute("data-shown", rows.length);
  }
  document.querySelectorAll("#conns th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var col = +b.getAttribute("data-col");
      sortDir = col === sortCol ? -sortDir : 1;
      sortCol = col;
      document.querySelectorAll("#conns th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
      b.parentNode.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      render();
    });
  });
  filter.addEventListener("input", render);
  close.addEventListener("change", render);
  render();
})();
