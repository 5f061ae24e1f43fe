"""K8s Autopilot services: planner, generator, validator, gateway."""
