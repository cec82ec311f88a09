"""Interface strings for gr.I18n (the frontend picks the browser's language) and example questions."""
from __future__ import annotations

_ZH = {
    "title": "## 绿策问答\n基于绿色发展政策文件作答，每个结论都标注来源段落；文件中没有答案时会如实说明。",
    "chat": "对话", "placeholder": "请输入问题，例如：甘肃省2030年森林覆盖率目标是多少？",
    "ask_placeholder": "输入问题，按回车发送（中文或英文均可）", "send": "发送", "clear": "清空对话",
    "comment": "可选：补充说明（回车提交）", "send_comment": "提交反馈", "examples": "示例问题",
    "settings": "设置", "top_k": "检索段落数", "mode": "检索方式", "docs": "只在这些文件中检索（留空为全部）",
    "answer_mode": "作答方式", "llm_off": "未配置大模型（RAG_LLM_BASE_URL、RAG_LLM_MODEL），仅可使用抽取式作答",
    "sources": "引用来源",
}
_EN = {
    "title": "## Policy Q&A\nAnswers from green-development policy documents, every claim cited to its passage; "
             "when the documents do not answer, it says so.",
    "chat": "Chat", "placeholder": "Ask a question, e.g. What is Gansu's forest coverage target for 2030?",
    "ask_placeholder": "Type a question and press Enter (Chinese or English)", "send": "Send", "clear": "Clear chat",
    "comment": "Optional: add a comment (Enter to send)", "send_comment": "Send feedback", "examples": "Example questions",
    "settings": "Settings", "top_k": "Passages to retrieve", "mode": "Retrieval mode",
    "docs": "Only search these documents (empty: all)", "answer_mode": "Answer mode",
    "llm_off": "No LLM configured (RAG_LLM_BASE_URL, RAG_LLM_MODEL): extractive answers only",
    "sources": "Sources",
}
# Chinese for every Chinese locale a browser may report.
I18N_TEXT = {"zh": _ZH, "zh-CN": _ZH, "zh-TW": _ZH, "en": _EN}

EXAMPLES = [
    "甘肃省2030年森林覆盖率目标是多少？",
    "工信部说过去五年我国一共建成了多少家绿色工厂？",
    "钢铁行业在制造业多少个门类里碳排放量排第一？",
    "What is Gansu's forest coverage target for 2030?",
]
