// The UI works without script; this only adds a "select all" box to the
// runs table and keeps the Compare button off until a run is ticked.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("runs-form");
  if (!form) return;
  var all = document.getElementById("select-all");
  var button = document.getElementById("compare");
  var boxes = form.querySelectorAll('input[name="runs"]');
  function update() {
    var n = 0;
    boxes.forEach(function (b) { if (b.checked) n++; });
    if (button) button.disabled = n === 0;
    if (all) all.checked = n > 0 && n === boxes.length;
  }
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  if (all) all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    update();
  });
  update();
});
