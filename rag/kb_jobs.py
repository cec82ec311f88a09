"""Knowledge-base changes run in the background, one at a time, with progress to poll.

The UI must not hold a request open for minutes of embedding, and questions must keep being
answered meanwhile: a change (add or remove) is checked at once, then queued; one worker thread
applies the changes in order and updates the index. ``status()`` is what the progress bar and the
``/kb_status`` API show.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Callable

from .kb import KnowledgeBase, Staged, added_summary

log = logging.getLogger("policy_qa.kb")
PHASES = {"queued": "等待中 queued", "reading": "读取文档 reading", "embedding": "向量化 embedding",
          "sentences": "句向量 sentence vectors",
          "writing": "写入索引 writing", "loading": "加载新索引 loading", "done": "完成 done", "failed": "失败 failed"}
KEEP = 20  # finished jobs remembered for status queries


class KbJobs:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._jobs: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict], None]] = []  # called on every progress step (tests, logs)
        threading.Thread(target=self._work, name="kb-jobs", daemon=True).start()

    # ------------------------------------------------------------------ submitting
    def add(self, files, title=None, publisher=None, date=None, replace=False) -> dict:
        """Check and stage the files now (UploadError when any is refused), index them in the background."""
        staged = self.kb.stage(files, title, publisher, date, replace)
        return self._submit("add", staged.names, lambda progress: self._run_add(staged, progress))

    def remove(self, doc_ids) -> dict:
        doc_ids = self.kb.check_removal(doc_ids)
        return self._submit("remove", doc_ids, lambda progress: self._run_remove(doc_ids, progress))

    def _submit(self, kind: str, docs: list[str], run) -> dict:
        job = {"id": f"job-{next(self._ids)}", "kind": kind, "docs": list(docs), "state": "queued", "phase": "queued",
               "done": 0, "total": 0, "submitted_at": time.time(), "finished_at": None, "error": None, "result": None}
        with self._lock:
            self._jobs[job["id"]] = job
            self._forget_old()
        self._queue.put((job["id"], run))
        return dict(job)

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j["state"] in ("done", "failed")),
                          key=lambda j: j["submitted_at"])
        for j in finished[:-KEEP]:
            self._jobs.pop(j["id"], None)

    # ------------------------------------------------------------------ status
    def status(self, job_id: str | None = None) -> dict:
        """One job (by id), else the running one, else the latest; {"state": "idle"} when there is none."""
        with self._lock:
            if job_id:
                job = self._jobs.get(job_id)
                return dict(job) if job else {"id": job_id, "state": "unknown", "error": f"no job {job_id}"}
            jobs = sorted(self._jobs.values(), key=lambda j: j["submitted_at"])
            active = [j for j in jobs if j["state"] in ("queued", "running")]
            job = active[0] if active else (jobs[-1] if jobs else None)
            return {**job, "pending": len(active)} if job else {"state": "idle", "pending": 0}

    def busy(self) -> bool:
        return self.status().get("pending", 0) > 0

    def subscribe(self, listener: Callable[[dict], None]) -> None:
        self._listeners.append(listener)

    # ------------------------------------------------------------------ working
    def _work(self) -> None:
        while True:
            job_id, run = self._queue.get()
            self._update(job_id, state="running", phase="reading")
            try:
                result = run(lambda phase, done, total: self._update(job_id, phase=phase, done=done, total=total))
                self._update(job_id, state="done", phase="done", result=result, finished_at=time.time())
            except Exception as exc:  # reported in the job; the worker goes on with the next one
                log.exception("knowledge-base job %s failed", job_id)
                self._update(job_id, state="failed", phase="failed", finished_at=time.time(),
                             error=f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc))

    def _update(self, job_id: str, **changes) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            job.update(changes)
            snapshot = dict(job)
        for listener in list(self._listeners):
            listener(snapshot)

    def _run_add(self, staged: Staged, progress) -> dict:
        try:
            names = self.kb.commit(staged)
        except Exception:
            self.kb.discard(staged)
            raise
        report = self.kb.update_index(progress)
        return {"added": added_summary(names, report), "summary": report.summary(), "version": report.version}

    def _run_remove(self, doc_ids: list[str], progress) -> dict:
        removed = self.kb.remove(doc_ids)
        report = self.kb.update_index(progress)
        return {"removed": removed, "summary": report.summary(), "version": report.version}
