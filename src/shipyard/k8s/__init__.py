"""The Kubernetes target: objects rendered from a model version and a deployment's settings."""
