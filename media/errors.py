class MediaError(Exception):
    """A refused media request. `code` and `message` are safe to show the member."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
