"""Package data: evaluation sets and in-context exemplars."""
