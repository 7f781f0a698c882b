"""An exception class on the workers' path only: a client cannot unpickle it."""


class PrivateError(Exception):
    pass
