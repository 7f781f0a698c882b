"""Resender: a Client's calls sent before their encoding was known go out again as soon as the
pool's answer says so (a C++ job named by a string takes JSON; a function sent by value needs a
module the workers lack), not when someone reads their result. Without it, jobs submitted
together would run one after another as their results are read, and a job whose result nobody
reads would never run.

Only unsettled calls (_calls.py) are watched, so a call whose encoding is known costs nothing
here. The session's completion queue names each watched job once it has finished (libwarmpool
only queues its id; no Python runs on its threads), and the resender's one thread, started when
the first call is watched and gone when none is, sends the call again if it is to be. Whoever
comes first, this thread or the reader of the result, sends it again, once (Call.send_again_now
and Call.outcome under Calls.lock); the outcome is always made by the reader.

Used by Client only: an Executor has its own thread on its session's completion queue, which
completes such calls (_executor.py).
"""

from __future__ import annotations

import threading


class Resender:
    def __init__(self, native):
        self._native = native
        self._lock = threading.Lock()
        self._watched = {}  # job id -> Call whose native future of that id is watched
        self._thread = None

    def watch(self, call, native) -> None:
        """Watches `native`, the call's future just sent."""
        with self._lock:
            self._watched[native.id] = call
            self._native.watch(native)  # queued at once if the job has already ended
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="warmpool-resend", daemon=True)
                self._thread.start()

    def _run(self):
        native_client = self._native
        while True:
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
            # Every watched id comes, once its job ends: no timeout is needed to notice the end.
            for job_id in native_client.completions():
                with self._lock:
                    call = self._watched.pop(job_id, None)
                if call is None:
                    continue
                native = call.future
                if native is None or native.id != job_id:  # its result has been read meanwhile
                    continue
                try:
                    sent = call.send_again_now(native)
                except Exception:  # noqa: BLE001 - left to the reader of its result, as it was
                    continue
                if sent is not None:
                    self.watch(call, sent)
