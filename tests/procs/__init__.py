"""Child-process programs for the reliability tests, and the code that launches them.

Exit, restart and fork behaviour can only be observed in a process of its own: each program
here is run with ``sys.executable`` and configured through app settings in its environment,
exactly as a function app is.
"""
