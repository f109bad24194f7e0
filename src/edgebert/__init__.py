"""edgebert: compress a fine-tuned encoder classifier and ship it to phones."""

__version__ = "0.3.0"
