"""A trained model applied to new files: ``predict`` (valence and arousal of the faces in one
picture), ``batch`` (``ferlib predict`` over photos, folders and videos), ``evaluate`` (a
checkpoint scored on a dataset split), ``faces``, ``video``, ``writer``, ``shipped``,
``examples`` and ``bench`` (``ferlib bench-faces``)."""
