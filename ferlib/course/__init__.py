"""The course around the library: ``runner`` (plans, runs and reports the notebooks with
papermill: ``ferlib notebooks``), ``chapter`` (a chapter's first output: its effective
configuration, and its ``Claims``), ``claims`` (``claim``: a sentence that reads a result, printed
only while its numbers support it), ``widgets`` (a slider in JupyterLab, one static figure in
batch runs), ``bench`` (throughput: ``ferlib bench``) and ``envcheck`` (``ferlib check-env``).

Import the module you need; this package imports nothing on its own.
"""
