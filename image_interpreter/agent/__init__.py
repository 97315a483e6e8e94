"""The agent: LLM backends, the built-in command interpreter and the tool-calling loop.
It turns chat into tool calls and never touches pixels itself."""
