"""The web layer: the FastAPI app and its routes. Nothing below it imports it."""
