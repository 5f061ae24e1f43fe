"""The notifier: delivers `workflow.*` and `gate.*` notifications to webhook subscriptions."""
