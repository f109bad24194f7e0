"""Per-target exporters (``edgebert.exporters``): one module per target, one registry."""
