"""Device transports and runners (``edgebert.devices``): one module per transport."""
