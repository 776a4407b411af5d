"""The tiny notes endpoint: takes sealed notes from viewers into a private inbox."""
