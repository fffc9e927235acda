"""The JSON-RPC API apart from any transport: models, dispatcher, sessions, subscriptions."""
