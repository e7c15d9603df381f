// Row selection for bulk actions: "select all on page", a count of ticked rows, and the action
// buttons enabled only while something is ticked. The form posts normally without this script.
(function () {
  document.querySelectorAll("form[data-bulk-select]").forEach((form) => {
    const all = form.querySelector("[data-bulk-all]");
    const rows = () => Array.from(form.querySelectorAll("[data-bulk-row]"));
    const count = form.querySelector("[data-bulk-count]");
    const buttons = form.querySelectorAll("[data-bulk-button]");

    function refresh() {
      const ticked = rows().filter((box) => box.checked).length;
      const total = rows().length;
      if (count) {
        count.textContent = ticked
          ? `${ticked} deal${ticked === 1 ? "" : "s"} selected`
          : "No deals selected";
      }
      buttons.forEach((button) => (button.disabled = ticked === 0));
      if (all) {
        all.checked = total > 0 && ticked === total;
        all.indeterminate = ticked > 0 && ticked < total;
      }
    }

    if (all) {
      all.addEventListener("change", () => {
        rows().forEach((box) => (box.checked = all.checked));
        refresh();
      });
    }
    form.addEventListener("change", (event) => {
      if (event.target.matches("[data-bulk-row]")) refresh();
    });
    refresh();
  });
})();
