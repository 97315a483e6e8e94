"""Built-in extractors, one module per family; each registers itself when imported."""
