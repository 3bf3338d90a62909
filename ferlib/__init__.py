"""FER-Zoo's library: data, SyntheticFER, methods, metrics, trainer and plots for VA regression."""

__version__ = "0.1.0"
