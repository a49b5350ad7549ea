"""The FAQ domain: the knowledge base (``faq/data/*.yaml``), its loader and the matcher.

Pure Python: nothing here imports ``telegram``.
"""
