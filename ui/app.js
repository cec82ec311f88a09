// Citation markers in chat messages are links to "#src-<turn>-<n>". One listener on the
// document (capture phase) survives Gradio re-rendering the chat and the sources panel,
// and stops the markdown renderer from opening the fragment in a new tab.
(function () {
  if (window.__policyQaCites) return;
  window.__policyQaCites = true;
  function openSource(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") p.open = true;
    }
    document.querySelectorAll(".src.active").forEach(function (x) { x.classList.remove("active"); });
    el.classList.add("active");
    el.scrollIntoView({ behavior: "smooth", block: "center" });
    return true;
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest('a[href*="#src-"]');
    if (!a) return;
    var id = a.getAttribute("href").split("#").pop();
    ev.preventDefault();
    ev.stopPropagation();
    openSource(id);
  }, true);
  window.policyQaOpenSource = openSource;
})();
