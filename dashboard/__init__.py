"""The live Dash dashboard, single and CSV analysis, and the model report (``sentiment-dashboard``)."""
