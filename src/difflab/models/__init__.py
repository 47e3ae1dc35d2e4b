"""Networks of the book: ``mlp`` (the 2-D denoisers of Chapters 3-7), ``clip`` (Chapter 1's text and image encoders)."""
