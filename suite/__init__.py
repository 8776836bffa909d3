"""dnas-suite core: spaces, runner, run store and the ``dnas`` command line."""
__version__ = "0.1.0"
