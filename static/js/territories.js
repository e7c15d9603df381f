// Draw the territory pages' plotly figures (the JSON next to each [data-chart]), on load and
// whenever htmx swaps a section in (a new measure, a new proposal). Plotly's own toolbar
// downloads a PNG.
(function () {
  function draw(element) {
    if (element.dataset.drawn) return;
    var source = document.getElementById(element.dataset.chart);
    if (!source || !window.Plotly) return;
    element.dataset.drawn = "true";
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
