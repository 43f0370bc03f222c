"""basisgraph: count attribution-graph edges of one planted model in several node sets, side by side.

A planted model holds sparse "animal" features that live inside the span of dense "attribute"
directions. Circuits read one or the other; the edge counts show that no single dictionary makes
every circuit sparse.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
