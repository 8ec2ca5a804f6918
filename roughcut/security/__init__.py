"""Security: credentials, tokens and third-party sign-in."""
