// Board drag and drop: dropping a card on a column posts the move through htmx. The server
// answers with a form for missing fields (shown in the dialog) or with an empty body and an
// HX-Trigger that reloads the board.
(function () {
  const dialog = document.getElementById("move-dialog");
  let dragged = null;

  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest(".deal-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.setData("text/plain", card.dataset.deal);
    card.classList.add("dragging");
  });
  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll(".column.over").forEach((c) => c.classList.remove("over"));
  });
  document.addEventListener("dragover", (event) => {
    const column = event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.add("over");
  });
  document.addEventListener("dragleave", (event) => {
    const column = event.target.closest(".column");
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("over");
  });
  document.addEventListener("drop", (event) => {
    const column = event.target.closest(".column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("over");
    if (dragged.closest(".column") === column) return;
    const board = column.closest(".board");
    const url = board.dataset.moveUrlTemplate.replace("/0/", `/${dragged.dataset.deal}/`);
    htmx.ajax("POST", url, {
      target: "#move-dialog",
      values: { stage: column.dataset.stage, version: dragged.dataset.version },
    });
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target === dialog) {
      if (dialog.innerHTML.trim()) {
        if (!dialog.open) dialog.showModal();
      } else if (dialog.open) {
        dialog.close();
      }
    }
  });
})();
