// Sortable tables: click a heading to sort by it; numbers sort as numbers
// (each cell carries its raw value in data-sort), empty values last.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("thead th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort || "", y = b.cells[col].dataset.sort || "";
        if (x === "" || y === "") { return x === y ? 0 : (x === "" ? 1 : -1); }
        var nx = Number(x), ny = Number(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, document.documentElement.lang);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
// Changing the period or province reloads the page with it.
document.querySelectorAll(".filters select").forEach(function (s) {
  s.addEventListener("change", function () { s.form.submit(); });
});
// The print buttons (no inline handlers: the Content-Security-Policy
// allows only this site's script files).
document.querySelectorAll("button.print").forEach(function (b) {
  b.addEventListener("click", function () { window.print(); });
});
