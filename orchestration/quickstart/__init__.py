"""The quickstart's embedded defaults: its config preset and its tiny models (built once, saved, loaded by path).

Below ``cli`` and ``dagster``, which both run on them."""
