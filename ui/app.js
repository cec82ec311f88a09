// Citation markers in chat messages are links to "#src-<turn>-<n>". One listener on the
// document (capture phase) survives Gradio re-rendering the chat and the sources panel,
// and stops the markdown renderer from opening the fragment in a new tab.
// A marker, a sources-panel passage ("Read in document") or a document title in the Documents
// tab opens the document view: the passage's offsets go to the server through a hidden textbox.
(function () {
  if (window.__policyQaCites) return;
  window.__policyQaCites = true;
  function openSource(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    for (var p = el; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") p.open = true;
    }
    document.querySelectorAll(".src.active").forEach(function (x) { x.classList.remove("active"); });
    el.classList.add("active");
    el.scrollIntoView({ behavior: "smooth", block: "center" });
    return el;
  }
  var nonce = 0;
  function openDoc(el) {
    var box = document.querySelector("#docview-request textarea, #docview-request input");
    if (!el || !box || !el.dataset.doc) return false;
    var d = el.dataset;
    var request = JSON.stringify({ doc: d.doc, start: +d.start || 0, end: +d.end || 0, s: +d.s || 0, e: +d.e || 0, n: ++nonce });
    var setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(box), "value").set;
    setter.call(box, request);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }
  function scrollDoc(tries) {
    var body = document.getElementById("docview-body");
    var target = body && (body.querySelector("#dv-sentence") || body.querySelector("#dv-passage"));
    if (target) {
      // scroll only the view's own text box: scrollIntoView would also shift the overlay itself
      var delta = target.getBoundingClientRect().top - body.getBoundingClientRect().top;
      body.scrollTop += delta - body.clientHeight / 3;
    } else if (body && body.querySelector(".dv-text")) {
      body.scrollTop = 0;
    } else if ((tries || 0) < 20) {
      setTimeout(function () { scrollDoc((tries || 0) + 1); }, 100);  // the HTML may land a moment later
    }
  }
  document.addEventListener("click", function (ev) {
    if (!ev.target.closest) return;
    var a = ev.target.closest('a[href*="#src-"]');
    if (a) {
      ev.preventDefault();
      ev.stopPropagation();
      openDoc(openSource(a.getAttribute("href").split("#").pop()));
      return;
    }
    var opener = ev.target.closest("a.src-open, a.doc-open, .src-passage");
    if (opener) {
      ev.preventDefault();
      ev.stopPropagation();
      openDoc(opener.classList.contains("doc-open") ? opener : opener.closest("details.src"));
    }
  }, true);
  document.addEventListener("keydown", function (ev) {
    var view = document.getElementById("docview");
    if (ev.key === "Escape" && view && view.getClientRects().length) {
      var close = document.getElementById("docview-close");
      if (close) close.click();
    }
  });
  window.policyQaOpenSource = openSource;
  window.policyQaScrollDoc = function () { setTimeout(scrollDoc, 50); };
})();
