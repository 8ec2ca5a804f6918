"""Rules and use cases. Imports no framework: a unit test enforces it."""
