"""Stage 5: measuring saliency models on ECSSD, DUTS-TE and DUT-OMRON the way the papers do."""
