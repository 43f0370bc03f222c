"""Features from the computation: a trained MLP, its parameter decomposition (SPD) and the read-out."""
