"""The course around the library: ``runner`` (plans, runs and reports the notebooks with
papermill: ``ferlib notebooks``), ``bench`` (throughput: ``ferlib bench``) and ``envcheck``
(``ferlib check-env``).

Import the module you need; this package imports nothing on its own.
"""
