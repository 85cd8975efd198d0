"""The web UI of ``shipyard server``: server-rendered pages over the same service functions
the REST API and the CLI call, signed in with the same tokens (``sessions``), rendered with
escaping on by default (``render``), served with a Content-Security-Policy that admits no
inline script (``pages``)."""
