"""Watching a run: live metrics, the console's funnel line, the summary and the HTML report."""
