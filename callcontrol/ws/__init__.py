"""The WebSocket transport: frames in and out of the API dispatcher."""
