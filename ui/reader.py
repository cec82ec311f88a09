"""The document view's components: an overlay that shows a cited passage in its document.

The page script (app.js) opens it: a click on a citation marker, a sources-panel passage or a
document title writes {"doc", "start", "end", "s", "e"} into a hidden textbox; its change event
renders the document here (``ui.docview``) and then scrolls to the highlighted sentence. From the
view a question can be asked about that document alone.
"""
from __future__ import annotations

from . import docview

SCROLL_JS = "() => { window.policyQaScrollDoc && window.policyQaScrollDoc(); }"


def build(gr, i18n, service) -> dict:
    v = {}
    # the bridge the page script writes to; hidden by CSS (a component Gradio does not render cannot receive input)
    v["request"] = gr.Textbox(elem_id="docview-request", elem_classes=["pqa-bridge"], show_label=False,
                              container=False, max_lines=1)
    v["doc"] = gr.State(None)
    with gr.Column(visible=False, elem_id="docview", elem_classes=["docview"]) as v["panel"]:
        with gr.Row(elem_id="docview-bar"):
            v["close"] = gr.Button(i18n("dv_close"), elem_id="docview-close", size="sm", scale=0, min_width=90)
        v["body"] = gr.HTML("", elem_id="docview-body")
        with gr.Row(elem_id="docview-ask-row"):
            v["question"] = gr.Textbox(show_label=False, placeholder=i18n("dv_ask_placeholder"), scale=5, max_lines=2,
                                       elem_id="docview-question", submit_btn=False)
            v["ask"] = gr.Button(i18n("dv_ask"), variant="primary", elem_id="docview-ask", scale=1, min_width=100)

    def open_doc(raw: str):
        req = docview.parse_request(raw)
        if req is None:
            return gr.skip(), gr.skip(), gr.skip()
        doc = service.store.documents.get(req["doc"])
        if doc is None:
            return docview.not_found(req["doc"]), gr.Column(visible=True), None
        return docview.render(doc, req["start"], req["end"], req["s"], req["e"]), gr.Column(visible=True), doc.doc_id

    v["open"] = open_doc
    v["request"].change(open_doc, [v["request"]], [v["body"], v["panel"], v["doc"]], api_visibility="private") \
        .then(None, js=SCROLL_JS)
    return v


def wire(gr, v: dict, tabs):
    """Close button; asking from the view closes it and shows the chat. Returns the event to chain the question on."""
    v["close"].click(lambda: gr.Column(visible=False), None, [v["panel"]], api_visibility="private")

    def to_chat():
        return gr.Column(visible=False), gr.Tabs(selected="chat")

    return gr.on([v["ask"].click, v["question"].submit], to_chat, None, [v["panel"], tabs], api_visibility="private")
