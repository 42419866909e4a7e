"""Storage: every extraction kept with its document, fields, findings and full contract JSON."""
