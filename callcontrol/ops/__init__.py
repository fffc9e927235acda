"""Running the server in production: control of a running process (pid file, reload, drain)."""
