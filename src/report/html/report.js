// The items table: filter by status, search, page; a row opens its inputs and output.
// The state lives in the address's fragment (#status=failed&q=throttl&page=2), so a
// filtered view can be linked to.
(function () {
  "use strict";
  var carrier = document.getElementById("items-data");
  // A large run's items come gzipped (base64): the browser inflates them.
  if (carrier.dataset.encoding === "gzip+base64") {
    var binary = atob(carrier.textContent.trim()), bytes = new Uint8Array(binary.length);
    for (var b = 0; b < binary.length; b++) bytes[b] = binary.charCodeAt(b);
    new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")))
      .text().then(function (text) { start(JSON.parse(text)); });
  } else {
    start(JSON.parse(carrier.textContent));
  }
function start(data) {
  var PAGE = 100;
  var rows = data.rows, texts = data.texts, steps = data.steps;
  var body = document.getElementById("rows");
  var status = document.getElementById("status");
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var page = 0, matching = rows;
  // Row fields: step, status, label, attempts, throttled, code, error, input, output, session.
  function text(i) { return i === null ? "" : texts[i]; }
  function haystack(r) {
    return (r[2] + "\n" + text(r[5]) + "\n" + text(r[6]) + "\n" + r[7] + "\n" + r[8]).toLowerCase();
  }
  function cell(tr, value, cls) {
    var td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function render() {
    var pages = Math.max(1, Math.ceil(matching.length / PAGE));
    page = Math.min(Math.max(0, page), pages - 1);
    var start = page * PAGE, end = Math.min(matching.length, start + PAGE);
    var fragment = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var r = matching[i], tr = document.createElement("tr");
      tr.className = r[1];
      tr.dataset.index = i;
      cell(tr, steps[r[0]]);
      cell(tr, r[1], "status");
      cell(tr, r[2]);
      cell(tr, r[3], "num");
      cell(tr, text(r[5]));
      cell(tr, text(r[6]) || r[7], "detail");
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    shown.textContent = matching.length === 0 ? "No item matches." :
      (start + 1) + "–" + end + " of " + matching.length + " matching items (" + rows.length + " in all)";
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  }
  function apply() {
    var want = status.value, q = search.value.trim().toLowerCase();
    matching = rows.filter(function (r) {
      return (!want || r[1] === want) && (!q || haystack(r).indexOf(q) >= 0);
    });
    var state = [];
    if (want) state.push("status=" + encodeURIComponent(want));
    if (q) state.push("q=" + encodeURIComponent(q));
    if (page) state.push("page=" + (page + 1));
    history.replaceState(null, "", state.length ? "#" + state.join("&") : location.pathname);
    render();
  }
  function more(tr) {
    var next = tr.nextSibling;
    if (next && next.classList.contains("more")) { next.remove(); return; }
    var r = matching[+tr.dataset.index];
    var extra = document.createElement("tr"), td = document.createElement("td");
    extra.className = "more";
    td.colSpan = 6;
    td.textContent = "input: " + (r[7] || "(none)") + "\noutput: " + (r[8] || "(none)") +
      "\nattempts: " + r[3] + ", throttled: " + r[4] + (r[9] ? ", resumed session " + r[9] : "") +
      (r[6] !== null ? "\nerror: " + text(r[6]) : "");
    extra.appendChild(td);
    tr.after(extra);
  }
  var params = new URLSearchParams(location.hash.slice(1));
  status.value = params.get("status") || "";
  search.value = params.get("q") || "";
  page = Math.max(0, (parseInt(params.get("page"), 10) || 1) - 1);
  status.addEventListener("change", function () { page = 0; apply(); });
  search.addEventListener("input", function () { page = 0; apply(); });
  document.getElementById("prev").addEventListener("click", function () { page--; apply(); });
  document.getElementById("next").addEventListener("click", function () { page++; apply(); });
  body.addEventListener("click", function (e) {
    var tr = e.target.closest("tr");
    if (tr && !tr.classList.contains("more")) more(tr);
  });
  apply();
  // For tests and benchmarks: the table is live.
  document.body.dataset.ready = "1";
}
})();
