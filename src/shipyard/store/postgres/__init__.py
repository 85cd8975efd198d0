"""The PostgreSQL ``Database``: a team's shared metadata server."""
