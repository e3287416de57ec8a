"""The layer classes of ``chainrule.nn``, one file per area; import them from ``chainrule.nn``.

(A regular package rather than a namespace package, so that tools that read the source, such as
the API reference's griffe, find its modules.)
"""
