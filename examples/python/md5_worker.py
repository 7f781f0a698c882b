"""The worker of the classic Process + Pipe md5 article, as a warmpool job.

The article's worker process first spends 10 s initialising (a sleep standing for loading a
model or opening connections), then answers each message from its pipe with md5 chained a
million times. Here that worker is a class: @warmpool.job builds one instance per warm worker
when the pool starts, so the 10 s are paid once per worker for the pool's lifetime instead of
once per worker per script run; each job calls the instance. Its name is "md5_worker.Md5Chain".

WARMPOOL_MD5_INIT_SECONDS (in the pool's environment) shortens the initialisation, for tests.
"""
import hashlib
import os
import time

import warmpool

INIT_SECONDS = float(os.environ.get("WARMPOOL_MD5_INIT_SECONDS", "10"))
ROUNDS = 1_000_000


def md5_chain(msg, rounds=ROUNDS):
    """md5 chained `rounds` times: one running state absorbs each round's message, and each
    round's message is the hex digest so far (the article's loop)."""
    md5 = hashlib.md5()
    for _ in range(rounds):
        md5.update(msg.encode())
        msg = md5.hexdigest()
    return msg


@warmpool.job
class Md5Chain:
    def __init__(self):
        time.sleep(INIT_SECONDS)  # the expensive initialisation, once per worker

    def __call__(self, msg):
        return md5_chain(msg)
