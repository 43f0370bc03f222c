"""Background jobs: training runs in one worker process, never inside a web request."""
