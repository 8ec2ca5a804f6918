"""The old single-page app's endpoints (LEGACY.md §2), each a thin translation onto the /api/v1 use cases.

envelope.py: the `@legacy` wrapper (old error bodies, Deprecation / Sunset / Link headers, the metrics
counter); session.py: the `vridge_session` cookie beside Bearer; shapes.py: the old response bodies;
account_routes.py, signup_routes.py, project_routes.py, feedback_routes.py: the handlers; routes.py mounts them.
"""
