class EventError(ValueError):
    """A refused event action whose message is safe to show the member.

    Refusals of *who* (not the host, not invited) raise PermissionDenied instead; this is
    for *what* and *when*: too long, too early, already live.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        # The form field the message belongs to, when the values came from a form.
        self.field = field
