"""The application: the top layer, which composes the others.

The web app (webhooks, web chat, health, metrics), the conversation router, the composition
root that builds a process's pieces from settings, and the command line. Nothing below this
package imports it (import-linter contracts in pyproject.toml).
"""
