// Keyboard review of candidate photos: J/K move between them, Y marks the subject, N someone else,
// U not decided. Nothing is sent until the reviewer saves; typing in a field is left alone.
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-candidate]"));
  if (!cards.length) return;
  var current = 0;
  var keys = { y: "confirmed", n: "rejected", u: "pending" };
  function focus(index) {
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards[current].focus();
    cards[current].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" && event.target.type !== "radio") return;
    if (tag === "textarea" || tag === "select") return;
    var key = event.key.toLowerCase();
    if (key === "j") { focus(current + 1); event.preventDefault(); }
    else if (key === "k") { focus(current - 1); event.preventDefault(); }
    else if (keys[key]) {
      var choice = cards[current].querySelector('input[data-decision="' + keys[key] + '"]');
      if (choice && !choice.disabled) { choice.checked = true; event.preventDefault(); }
    }
  });
  cards.forEach(function (card, index) {
    card.addEventListener("focusin", function () { current = index; });
  });
})();
