# The room consumer (/ws/rooms/<room_id>/) arrives with the live-rooms work.
websocket_urlpatterns: list = []
