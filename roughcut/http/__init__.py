"""The REST edge: aiohttp sub-app under /api/v1, marshmallow schemas, problem+json, OpenAPI."""
