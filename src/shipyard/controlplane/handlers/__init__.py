"""The control plane's endpoints, one module per resource; each calls services only."""
