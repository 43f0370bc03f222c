"""Sharing: link versions, previews, embeds and file exports of a view."""
