"""The one exception a user of the kit can cause.

Its message is a single line that names the problem; the CLI prints it and
exits with status 2.
"""


class MnistgenError(Exception):
    """Bad input, missing or corrupt data, or a missing model file."""
