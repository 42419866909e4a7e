"""A synthetic corpus for testing the reader: value dicts that obey (or break) the template's rules,
and a renderer that prints them as whole reports in each layout family real reports arrive in.

- `tests.corpus.values`: `generate_values`, `break_one_rule`, `load_gold`, `failing_equations`.
- `tests.corpus.render`: `render(values, template, family, seed=...) -> (bytes, filename)`.
"""
