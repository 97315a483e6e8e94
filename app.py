"""Chainlit web app entry point (`chainlit run app.py`).

The web interface is an adapter from a Chainlit conversation to a `Session` and the agent; it is
built on top of the agent (see the project's issues) and lives in this one file so that the
adapter stays thin.
"""
