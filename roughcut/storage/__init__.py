"""Adapters that implement the domain's ports: database, Redis, blobs, mail."""
