"""Python jobs for integration/zygote_test: module-level code notes the process it runs in
("import <pid>" in $WARMPOOL_TEST_PRELOAD_LOG), as each job instance does ("instance <pid>")."""

import os

import warmpool

IMPORTED_IN = os.getpid()
TABLE = list(range(100_000))


def _note(what):
    path = os.environ.get("WARMPOOL_TEST_PRELOAD_LOG")
    if path:
        with open(path, "a") as log:
            log.write(f"{what} {os.getpid()}\n")


_note("import")


@warmpool.job
class Where:
    def __init__(self):
        _note("instance")

    def __call__(self, _):
        return [os.getpid(), IMPORTED_IN, sum(TABLE)]
