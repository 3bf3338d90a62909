"""The course around the library: ``runner`` (plans and runs the notebooks with papermill),
``helpers`` (short calls the chapters share), ``bench`` (throughput) and ``envcheck``.

Import the module you need; this package imports nothing on its own.
"""
