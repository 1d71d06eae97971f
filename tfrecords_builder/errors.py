"""The builder's exceptions about one record, in a module of their own (no imports).

:class:`HeaderError` is raised by the header parser, the sample readers and the
``.mat`` reader alike, so it lives here rather than in any of them.
"""


class HeaderError(ValueError):
    """A record file that cannot be parsed or read; the message names the file."""


class RecordRejected(Exception):
    """A record that cannot become a training example; the message is the reason."""
