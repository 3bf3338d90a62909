"""The course around the library: ``runner`` (plans, runs and reports the notebooks with
papermill: ``ferlib notebooks``), ``bench`` (throughput: ``ferlib bench``), ``envcheck``
(``ferlib check-env``) and ``claims`` (``claim``: a sentence that reads a result, printed
only while its numbers support it).

Import the module you need; this package imports nothing on its own.
"""
