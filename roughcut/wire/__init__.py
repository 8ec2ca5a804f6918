"""Framework-neutral serialisation shared by both edges (REST `http/` and Socket.IO `realtime/`)."""
