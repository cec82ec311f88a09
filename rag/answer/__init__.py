"""The answer stage: from retrieved passages to a short, cited answer (or a refusal).

* ``extractive``: the offline answerer: candidate spans scored by a fitted model (``scorer``).
* ``features`` / ``scorer``: what a span is judged on, and the weights fitted on data
  (``weights.json``, re-fitted by ``eval/fit_scorer.py``).
* ``verify``: checks shared by every answerer (each figure must be in a cited passage).
* ``llm`` / ``prompts`` / ``llm_verify``: the optional LLM answerer and its verification.
* ``followup``: turning a follow-up question into a self-contained one.
"""
