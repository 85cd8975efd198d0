"""The serving runtime (data plane): protocols, codecs and the model host."""
