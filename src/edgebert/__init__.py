"""edgebert: compress a fine-tuned BERT-family classifier and ship it to phones."""

__version__ = "0.1.0"
