"""One module per transport; each registers itself with ``@register_transport``."""
