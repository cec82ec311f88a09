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
    "tab_chat": "问答", "tab_docs": "文档", "kb_add": "添加文档", "kb_files": "选择 .pdf / .docx / .txt / .md 文件（可多选）",
    "kb_title": "标题（可选，仅单个文件）", "kb_publisher": "发布机构（可选）", "kb_date": "日期（可选）",
    "kb_replace": "替换同名的已添加文档", "kb_add_btn": "添加并索引", "kb_remove": "删除文档",
    "kb_remove_pick": "选择要删除的已添加文档（内置文档只读）", "kb_remove_btn": "删除",
    "dv_close": "关闭 ✕", "dv_ask_placeholder": "只在本文件中提问…", "dv_ask": "在本文件中提问",
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
    "tab_chat": "Chat", "tab_docs": "Documents", "kb_add": "Add documents",
    "kb_files": "Choose .pdf / .docx / .txt / .md files (several at once)", "kb_title": "Title (optional, one file only)",
    "kb_publisher": "Publisher (optional)", "kb_date": "Date (optional)", "kb_replace": "Replace an added document of the same name",
    "kb_add_btn": "Add and index", "kb_remove": "Remove documents",
    "kb_remove_pick": "Added documents to remove (built-in ones are read-only)", "kb_remove_btn": "Remove",
    "dv_close": "Close ✕", "dv_ask_placeholder": "Ask about this document only…", "dv_ask": "Ask this document",
}
# Chinese for every Chinese locale a browser may report.
I18N_TEXT = {"zh": _ZH, "zh-CN": _ZH, "zh-TW": _ZH, "en": _EN}

EXAMPLES = [
    "甘肃省2030年森林覆盖率目标是多少？",
    "工信部说过去五年我国一共建成了多少家绿色工厂？",
    "钢铁行业在制造业多少个门类里碳排放量排第一？",
    "What is Gansu's forest coverage target for 2030?",
]
