"""Repositories: SQL behind the domain's repository ports."""
