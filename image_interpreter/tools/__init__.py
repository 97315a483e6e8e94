"""LangChain tools: thin, typed wrappers over a `Session`; the argument model and the docstring
are the whole contract the LLM sees. They take session-scoped handles, never paths or URLs."""
