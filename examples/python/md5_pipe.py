"""The classic Process + Pipe md5 article as its author wrote it: two worker processes, each
initialising for 10 s, then chaining md5 a million times over each message it reads from its
pipe. Every run of this script pays the initialisation again; md5_warm.py is the same work on a
warmpool whose workers did it once.

    /usr/bin/python3 examples/python/md5_pipe.py
"""
import sys
import time
from multiprocessing import Pipe, Process

from md5_worker import INIT_SECONDS, md5_chain

MESSAGES = ["Hello World", "Hello Python", "Hello warmpool", "Goodbye World"]
EXPECTED_FIRST = "1e4110cf294414bc2ac346ad274a7af3"  # "Hello World", a million rounds


def worker(conn):
    time.sleep(INIT_SECONDS)  # the expensive initialisation
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(md5_chain(msg))


def main():
    start = time.time()
    pipes, procs = [], []
    for _ in range(2):
        parent, child = Pipe()
        proc = Process(target=worker, args=(child,))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for i, msg in enumerate(MESSAGES):
        pipes[i % 2].send(msg)
    results = [pipes[i % 2].recv() for i in range(len(MESSAGES))]
    for conn in pipes:
        conn.send(None)
    for proc in procs:
        proc.join()
    delta = time.time() - start
    for msg, digest in zip(MESSAGES, results):
        print(f"{msg!r:18} -> {digest}")
    print(f"Process + Pipe: took {delta:.3f} seconds")
    return 0 if results[0] == EXPECTED_FIRST else 1


if __name__ == "__main__":
    sys.exit(main())
