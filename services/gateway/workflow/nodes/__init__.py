"""The workflow graph's nodes, one module per concern."""
