// Draw the quota pages' plotly figures (bookings against quota, capacity against target) from
// the JSON next to each chart; plotly's own toolbar downloads a PNG.
(function () {
  function draw(element) {
    if (element.dataset.rendered) return;
    var source = document.getElementById(element.dataset.chart);
    if (!source || !window.Plotly) return;
    var figure = JSON.parse(source.textContent);
    var config = {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: {format: "png", filename: element.dataset.chart, scale: 2},
    };
    Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      element.dataset.rendered = "true";
    });
  }
  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }
  drawAll();
  document.body.addEventListener("htmx:afterSettle", drawAll);
})();
