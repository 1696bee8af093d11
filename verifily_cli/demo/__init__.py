"""``verifily demo``: a small workspace and the runs that show what the product is for."""
