"""Management-command output helpers shared by every app."""


def plain(text: str) -> str:
    """An output style that leaves text as it is: for progress and notes that
    commands write to stderr, which Django otherwise styles as errors."""
    return text
