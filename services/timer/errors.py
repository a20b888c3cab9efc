from chronohook.errors import ChronohookError


class TimerError(ChronohookError):
    """The timer cannot go on safely (its changelog cannot be read)."""
