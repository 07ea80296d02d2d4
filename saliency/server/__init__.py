"""`saliency serve`: a model as a local HTTP service and web page (the optional `serve` extra)."""
