"""After a recorded room: its replay, its transcript, and the demo's recorded room."""
