"""otel-holysheep (being written)."""
