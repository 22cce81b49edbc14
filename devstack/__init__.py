"""Development helpers shared by tests/ and bench/ (installed with the package, never imported by
app/): `stack` starts and stops real servers on loopback, `images` makes the images they send."""
