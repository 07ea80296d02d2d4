"""Stage 5: measuring saliency models on the papers' sets and the user's own, the way the papers do
(the sets and their protocols, the metrics, the report, the published rows)."""
