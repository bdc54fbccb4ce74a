// The SQL console: POST /api/sql, show the rows as a table (text only, never
// markup), download the same query as CSV.
(function () {
  var sql = document.getElementById("sql"), status = document.getElementById("status");
  var result = document.getElementById("result");
  function post(format) {
    return fetch("/api/sql", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({sql: sql.value, format: format})
    });
  }
  document.getElementById("run").addEventListener("click", function () {
    status.textContent = "…";
    post("json").then(function (r) { return r.json(); }).then(function (j) {
      result.textContent = "";
      if (j.error) { status.textContent = j.error; return; }
      status.textContent = j.row_count + (j.truncated ? "+" : "") + " · " + j.elapsed_ms + " ms · " + j.as_of;
      var table = document.createElement("table"), head = table.createTHead().insertRow();
      j.columns.forEach(function (c) { var th = document.createElement("th"); th.textContent = c.name; head.appendChild(th); });
      var body = table.createTBody();
      j.rows.forEach(function (row) {
        var tr = body.insertRow();
        row.forEach(function (v) { tr.insertCell().textContent = v === null ? "" : String(v); });
      });
      result.appendChild(table);
    });
  });
  document.getElementById("csv").addEventListener("click", function () {
    post("csv").then(function (r) { return r.blob(); }).then(function (b) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(b); a.download = "query.csv"; a.click();
    });
  });
})();
