"""A trained model applied to new files: ``predict`` (valence and arousal for images)."""
