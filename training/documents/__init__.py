"""Synthetic identity documents (ICAO 9303 TD1/TD2/TD3) photographed as claimants do, and the
training of the document detector and the two text recognizers (MRZ and visual-zone fields)."""
