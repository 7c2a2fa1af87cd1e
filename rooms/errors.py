class RoomError(Exception):
    """A refused room action. `code` and `message` are safe to show the member."""

    code = "not_allowed"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotAllowed(RoomError):
    code = "not_allowed"


class NotFound(RoomError):
    code = "not_found"


class Conflict(RoomError):
    code = "conflict"


class StageFull(RoomError):
    code = "stage_full"


class RoomNotLive(RoomError):
    code = "room_not_live"
