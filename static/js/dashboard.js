// Draw the dashboard's plotly figures; a click on a bar, point or funnel stage opens the deals
// behind it (the URL is the point's customdata). Plotly's own toolbar downloads a PNG.
(function () {
  function draw(element) {
    var source = document.getElementById(element.dataset.chart);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    var config = {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: {format: "png", filename: element.dataset.chart, scale: 2},
    };
    Plotly.newPlot(element, figure.data, figure.layout, config).then(function () {
      element.dataset.rendered = "true";
    });
    element.on("plotly_click", function (event) {
      var url = event.points && event.points[0] && event.points[0].customdata;
      if (url) window.location.href = url;
    });
  }
  document.querySelectorAll("[data-chart]").forEach(draw);
})();
