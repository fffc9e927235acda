"""Running the server in production: control of a running process (pid file, reload, drain), and what
an operator sees of it: metrics, health, logs, the SIP trace (docs/operations.md)."""
