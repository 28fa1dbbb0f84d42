"""The resume store behind the ``resume`` source."""
