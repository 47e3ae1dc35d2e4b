"""Networks of the book: ``clip`` (Chapter 1's text and image encoders)."""
