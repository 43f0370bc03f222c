"""Route groups of the web app, one module per domain."""
