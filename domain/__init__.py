"""The workflow's rules in plain Python: intake, planning, webhooks and the step handlers."""
