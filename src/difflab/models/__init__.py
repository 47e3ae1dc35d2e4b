"""The networks of the book."""
