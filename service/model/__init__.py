"""The model reader: the only code that talks to a language model."""
