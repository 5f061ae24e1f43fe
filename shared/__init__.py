"""K8s Autopilot shared library: contracts used by every service."""
