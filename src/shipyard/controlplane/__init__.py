"""The control plane: ``shipyard server``'s REST API, its client, and the process around them."""
